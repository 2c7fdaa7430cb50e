package awsaccounts

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// organization is the AWS Organizations view of the accounts: a root,
// organisational units under it, and every account of the world (the
// management account included) placed under the root or a unit.
type organization struct {
	id, mgmt string
	root     node
	units    []node // in declaration order
	accounts []member
}

type node struct {
	id, name, parent string // parent: a node id
}

type member struct {
	id, name, email, parent string
	joined                  time.Time
}

// IDs are derived from names, so that a world file's organisation has the
// same ids at every start ("o-" 10+, "r-" 4+, "ou-<root>-" 8+ characters,
// the model's patterns).
func newOrganization(spec OrgSpec, d *Directory, joined time.Time) *organization {
	mgmt := spec.ManagementAccount
	if mgmt == "" {
		mgmt = d.defaultAccount
	}
	o := &organization{id: "o-" + hashID(mgmt, 10), mgmt: mgmt}
	rootSuffix := hashID("root/"+mgmt, 4)
	o.root = node{id: "r-" + rootSuffix, name: "Root"}
	byName := map[string]string{}
	for _, u := range spec.Units {
		parent := o.root.id
		if u.Parent != "" {
			parent = byName[u.Parent]
		}
		n := node{id: "ou-" + rootSuffix + "-" + hashID("ou/"+u.Name, 8), name: u.Name, parent: parent}
		byName[u.Name] = n.id
		o.units = append(o.units, n)
	}
	seenMgmt := false
	for _, id := range d.order {
		a := d.accounts[id].spec
		if id == d.defaultAccount && id != mgmt && !d.declared(id) {
			continue // the default account is a member only when declared or managing
		}
		parent := o.root.id
		if a.Unit != "" {
			parent = byName[a.Unit]
		}
		name := a.Name
		if name == "" {
			name = "account-" + id
			if id == mgmt {
				name = "management"
			}
		}
		email := a.Email
		if email == "" {
			email = "aws+" + id + "@example.com"
		}
		o.accounts = append(o.accounts, member{id: id, name: name, email: email, parent: parent, joined: joined.UTC().Truncate(time.Second)})
		seenMgmt = seenMgmt || id == mgmt
	}
	if !seenMgmt {
		o.accounts = append([]member{{id: mgmt, name: "management", email: "aws+" + mgmt + "@example.com", parent: o.root.id, joined: joined}}, o.accounts...)
	}
	return o
}

// declared reports whether the world's aws.accounts lists id.
func (d *Directory) declared(id string) bool { return d.listed[id] }

func hashID(s string, n int) string {
	h := sha256.Sum256([]byte(s))
	x := hex.EncodeToString(h[:])
	// hex is [0-9a-f], inside the model's [0-9a-z].
	return x[:n]
}

func (o *organization) arn(kind, id string) string {
	if kind == "account" {
		return "arn:aws:organizations::" + o.mgmt + ":account/" + o.id + "/" + id
	}
	return "arn:aws:organizations::" + o.mgmt + ":" + kind + "/" + o.id + "/" + id
}

// parentExists reports whether id is the root or a unit.
func (o *organization) parentExists(id string) bool {
	if id == o.root.id {
		return true
	}
	for _, u := range o.units {
		if u.id == id {
			return true
		}
	}
	return false
}
