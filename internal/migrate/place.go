package migrate

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/rotor-ci/rotor/internal/rotation"
)

// A CodeConnections connection is a resource of one account and region
// (its ARN names both), and a pipeline's source action can use only a
// connection of the pipeline's own account and region. A credential whose
// pipelines span several places needs a connection in each: this file
// matches actions to connections by place, before anything is written.

// Place is an AWS account × region.
type Place struct {
	Account string `json:"account"`
	Region  string `json:"region"`
}

func (p Place) String() string { return "account " + p.Account + ", region " + p.Region }

// PlaceOf is where binding b's pipeline lives, from the attributes every
// codepipeline binding carries (its ID names the same).
func PlaceOf(b rotation.Binding) Place {
	return Place{Account: b.Attrs["account"], Region: b.Attrs["region"]}
}

// connectionARN is a connection's ARN, under either of the service's names:
// arn:PARTITION:codeconnections:REGION:ACCOUNT:connection/ID (or
// codestar-connections, the name of connections created before the rename).
var connectionARN = regexp.MustCompile(`^arn:aws(?:-[a-z]+)*:(?:codeconnections|codestar-connections):([a-z0-9-]+):([0-9]{12}):connection/[A-Za-z0-9-]+$`)

// ParseConnection is the place of a connection's ARN. A malformed ARN is an
// error wrapping ErrBadConnection that names it.
func ParseConnection(arn string) (Place, error) {
	m := connectionARN.FindStringSubmatch(arn)
	if m == nil {
		return Place{}, fmt.Errorf("--connection %q: %w: want arn:aws:codeconnections:REGION:ACCOUNT:connection/ID (or arn:aws:codestar-connections:…)", arn, ErrBadConnection)
	}
	return Place{Account: m[2], Region: m[1]}, nil
}

// ParseConnections maps each place to the one connection given for it.
// Two connections for the same place, or a malformed ARN, is an error
// wrapping ErrBadConnection that names them; the same ARN twice counts once.
func ParseConnections(arns []string) (map[Place]string, error) {
	out := make(map[Place]string, len(arns))
	for _, arn := range arns {
		p, err := ParseConnection(arn)
		if err != nil {
			return nil, err
		}
		if prev, ok := out[p]; ok && prev != arn {
			return nil, fmt.Errorf("--connection %s and --connection %s are both in %s: %w: give one connection per account × region", prev, arn, p, ErrBadConnection)
		}
		out[p] = arn
	}
	return out, nil
}

// describe lists places, sorted: "account 1…, region r; account 2…, region r".
func describe(places iter.Seq[Place]) string {
	var out []string
	for p := range places {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// unplaced lists the pipelines of actions whose place has no connection,
// once per pipeline and place, sorted; nil when every action has one.
func unplaced(actions []Planned, conns map[Place]string) []Planned {
	var out []Planned
	for _, a := range actions {
		if _, ok := conns[PlaceOf(a.Binding)]; !ok {
			out = append(out, a)
		}
	}
	key := func(a Planned) string { return a.Pipeline + " (" + PlaceOf(a.Binding).String() + ")" }
	slices.SortFunc(out, func(a, b Planned) int { return strings.Compare(key(a), key(b)) })
	return slices.CompactFunc(out, func(a, b Planned) bool { return key(a) == key(b) })
}

// errUnplaced is the refusal of a migration that has actions with no
// connection of their place: it names each such pipeline and its place,
// the places of the connections given, and what to do.
func errUnplaced(credential string, missing []Planned, conns map[Place]string) error {
	lines := make([]string, len(missing))
	for i, a := range missing {
		lines[i] = a.Pipeline + " (" + PlaceOf(a.Binding).String() + ")"
	}
	given := "the --connection given is in "
	if len(conns) > 1 {
		given = "the connections given are in "
	}
	return fmt.Errorf("%s: %w, for:\n  %s\nNothing was changed. A pipeline can use only a connection of its own AWS account and region; %s%s. "+
		"Give a --connection in each account and region above as well (repeat --connection, one per account × region; "+
		"'rotor migrate %s --create-connection NAME --account %s --region %s' creates one there), or migrate the other places only, with --account and --region (or --pipeline)",
		credential, ErrNoConnection, strings.Join(lines, "\n  "), given, describe(maps.Keys(conns)), credential, PlaceOf(missing[0].Binding).Account, PlaceOf(missing[0].Binding).Region)
}

// Created is a connection CreateConnection made.
type Created struct {
	Connection string `json:"connection"`
	Status     string `json:"status"`
	ConsoleURL string `json:"console_url"`
	Place
}

// Selection narrows a migration to the actions of one pipeline, account or
// region, or of several of these at once; each "" selects any.
type Selection struct {
	Pipeline, Account, Region string
}

// accountID is an AWS account ID.
var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// Check refuses an account that is not an AWS account ID, which would
// select nothing.
func (sel Selection) Check() error {
	if sel.Account != "" && !accountID.MatchString(sel.Account) {
		return fmt.Errorf("--account %q: want a 12-digit AWS account ID", sel.Account)
	}
	return nil
}

// Selects reports whether b's action is one sel selects.
func (sel Selection) Selects(b rotation.Binding) bool {
	place := PlaceOf(b)
	return (sel.Pipeline == "" || b.Attrs["pipeline"] == sel.Pipeline) &&
		(sel.Account == "" || place.Account == sel.Account) &&
		(sel.Region == "" || place.Region == sel.Region)
}

// String says what sel narrows to, for errors: " in pipeline p, account a"
// ("" when it selects everything).
func (sel Selection) String() string {
	var parts []string
	for _, f := range [][2]string{{"pipeline", sel.Pipeline}, {"account", sel.Account}, {"region", sel.Region}} {
		if f[1] != "" {
			parts = append(parts, f[0]+" "+f[1])
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " in " + strings.Join(parts, ", ")
}

// CreateConnection creates a GitHub connection named name (PENDING until a
// person completes it in the console) in the account and region of c's
// version 1 actions that sel selects. Actions in several places are refused
// (ErrSeveralPlaces, naming them) before anything is created: a connection
// serves one place, so narrow sel (an account and region, or a pipeline)
// and create one per place.
func CreateConnection(ctx context.Context, c Credential, sel Selection, name string) (Created, error) {
	at := map[Place]Pipelines{}
	for _, p := range c.Pipelines {
		if p == nil {
			continue
		}
		bs, err := p.V1Actions(ctx)
		if err != nil {
			return Created{}, fmt.Errorf("%s: discover: %w", c.Name, err)
		}
		for _, b := range bs {
			if sel.Selects(b) {
				at[PlaceOf(b)] = p
			}
		}
	}
	switch len(at) {
	case 0:
		return Created{}, fmt.Errorf("%s: %w%s: no connection to create", c.Name, ErrNothing, sel)
	case 1:
	default:
		return Created{}, fmt.Errorf("%s: %w (%s), and a connection serves one: create one per account and region, narrowing with --account and --region (or --pipeline); nothing was created",
			c.Name, ErrSeveralPlaces, describe(maps.Keys(at)))
	}
	var place Place
	var p Pipelines
	for place, p = range at { // the only one
	}
	api, err := p.Connections(ctx, place)
	if err != nil {
		return Created{}, err
	}
	arn, err := api.Create(ctx, name)
	if err != nil {
		return Created{}, err
	}
	return Created{Connection: arn, Status: ConnectionPending, ConsoleURL: api.ConsoleURL(arn), Place: place}, nil
}
