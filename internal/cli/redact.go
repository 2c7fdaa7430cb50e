package cli

import (
	"fmt"
	"io"

	"github.com/rotor-ci/rotor/internal/token"
)

// errTokenArgument is what rotor says to a token typed where an argument or
// a flag value goes, before any command sees it: argv reaches shell
// history, ps and CI logs, and every message that echoes an argument would
// echo the token.
const errTokenArgument = "tokens are read from a hidden prompt or --token-stdin, never from arguments"

// refuseTokenArgs reports whether any argument holds a token-shaped value
// and, if so, says so on w with the value redacted to its fingerprint.
func refuseTokenArgs(args []string, w io.Writer) bool {
	for i, a := range args {
		if !token.HasTokenShaped(a) {
			continue
		}
		fmt.Fprintf(w, "rotor: argument %d holds a GitHub token (%s): %s.\n"+
			"If that token is live, treat it as exposed (shell history, process list, CI logs) and replace it.\n",
			i+1, token.RedactText(a), errTokenArgument)
		return true
	}
	return false
}

// redacting passes what it writes through token.RedactText. cobra and
// pflag echo arguments in their own messages (unknown command, unknown
// flag, ParseBool errors, help topics); their streams go through it so
// that none can print a token, whatever reaches them.
type redacting struct{ w io.Writer }

func (r redacting) Write(p []byte) (int, error) {
	if !token.HasTokenShaped(string(p)) {
		return r.w.Write(p)
	}
	if _, err := io.WriteString(r.w, token.RedactText(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
