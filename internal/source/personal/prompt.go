package personal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Need is what the new token must have; Mint hands it to the reader through
// the context so that the prompt can tell the person.
type Need struct {
	Credential   string
	Scopes       []string
	Repositories []string // owner/repo
	MinValidity  time.Duration
	MaxLifetime  time.Duration // the organisation's maximum lifetime (0: none)
}

type needKey struct{}

// WithNeed attaches n to ctx for a reader.
func WithNeed(ctx context.Context, n Need) context.Context {
	return context.WithValue(ctx, needKey{}, n)
}

// NeedFrom returns what Mint attached to ctx.
func NeedFrom(ctx context.Context) (Need, bool) {
	n, ok := ctx.Value(needKey{}).(Need)
	return n, ok
}

// maxLine bounds what is read as one token.
const maxLine = 4096

// PromptReader asks a person for the new token: it explains on out how to
// create one so that nothing breaks, then reads the token from in, without
// echo when tty is true and in is a terminal, else as one line (stdin, for
// --token-stdin). An empty answer is rotation.ErrNoToken.
func PromptReader(in io.Reader, out io.Writer, tty bool) func(context.Context) (token.Token, error) {
	return func(ctx context.Context) (token.Token, error) {
		need, _ := NeedFrom(ctx)
		if out != nil {
			fmt.Fprint(out, Explain(need))
		}
		return ReadToken(ctx, in, out, tty, "the new token")
	}
}

// ReadToken reads one token from in: without echo when tty is true and in
// is a terminal (prompting on out for what, e.g. "the new token"), else as
// one line. An empty answer is rotation.ErrNoToken.
func ReadToken(ctx context.Context, in io.Reader, out io.Writer, tty bool, what string) (token.Token, error) {
	f, isFile := in.(*os.File)
	hidden := tty && isFile && term.IsTerminal(int(f.Fd()))
	if out != nil {
		if hidden {
			fmt.Fprintf(out, "Paste %s (it is not shown): ", what)
		} else {
			fmt.Fprintf(out, "Reading %s from standard input.\n", what)
		}
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		if hidden {
			r.b, r.err = term.ReadPassword(int(f.Fd()))
		} else {
			r.b, r.err = readLine(in)
		}
		done <- r
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return token.Token{}, ctx.Err()
	}
	if hidden && out != nil {
		fmt.Fprintln(out)
	}
	v := strings.TrimSpace(string(r.b))
	clear(r.b)
	if r.err != nil && !(errors.Is(r.err, io.EOF) && v != "") {
		if errors.Is(r.err, io.EOF) {
			return token.Token{}, rotation.ErrNoToken
		}
		return token.Token{}, fmt.Errorf("read token: %w", r.err)
	}
	if v == "" {
		return token.Token{}, rotation.ErrNoToken
	}
	return token.New(v), nil
}

// readLine reads up to a newline one byte at a time, so that nothing after
// the token is consumed from in.
func readLine(in io.Reader) ([]byte, error) {
	var b []byte
	one := make([]byte, 1)
	for len(b) < maxLine {
		n, err := in.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				return b, nil
			}
			b = append(b, one[0])
		}
		if err != nil {
			return b, err
		}
	}
	return b, fmt.Errorf("no line end within %d bytes: that is not a token", maxLine)
}

// Explain is the advice shown before a person pastes a new token.
func Explain(n Need) string {
	var b strings.Builder
	name := n.Credential
	if name == "" {
		name = "this credential"
	}
	fmt.Fprintf(&b, "rotor needs a new GitHub personal access token for %s.\n\n", name)
	b.WriteString("Create a NEW token in GitHub: Settings → Developer settings → Personal access tokens → Generate new token.\n")
	b.WriteString("Do not choose \"Regenerate\" on the old token: that kills it at once and breaks everything still using it.\n")
	b.WriteString("With a new token rotor switches every consumer first, checks each one, and only then revokes the old token.\n\n")
	if n.Credential != "" {
		fmt.Fprintf(&b, "  Note:          rotor %s (so you can find it later)\n", n.Credential)
	}
	if len(n.Scopes) > 0 {
		fmt.Fprintf(&b, "  Scopes:        %s (classic token)\n", strings.Join(n.Scopes, ", "))
	}
	if len(n.Repositories) > 0 {
		fmt.Fprintf(&b, "  Repositories:  %s (it must be able to read these)\n", strings.Join(n.Repositories, ", "))
	}
	switch {
	case n.MaxLifetime > 0:
		// GitHub blocks a token that lives longer on the organisation's
		// resources, and rotor refuses it.
		fmt.Fprintf(&b, "  Expiration:    more than %s and at most %s from now (the organisation's maximum lifetime)\n", days(n.MinValidity), days(n.MaxLifetime))
	case n.MinValidity > 0:
		fmt.Fprintf(&b, "  Expiration:    more than %s from now\n", days(n.MinValidity))
	}
	b.WriteString("\n")
	return b.String()
}

// days shows a validity the way people count it: whole days from two days
// up, else hours and minutes.
func days(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.Round(time.Minute).String()
}
