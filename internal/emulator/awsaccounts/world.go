package awsaccounts

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/fault"
)

// World is the aws section of a world file: the accounts besides the
// default one, their keys and roles, and the organisation.
//
//	aws:
//	  accounts:
//	    - id: "111111111111"
//	      name: dev
//	      unit: Workloads                   # organisational unit; absent: the root
//	      access_keys: [{id: AKIADEV000000000001, user: deployer}]
//	      roles:
//	        - name: rotor
//	          trust_policy:
//	            Statement:
//	              - Effect: Allow
//	                Principal: {AWS: "arn:aws:iam::123456789012:root"}
//	                Action: sts:AssumeRole
//	                Condition: {StringEquals: {"sts:ExternalId": rotor-prod}}
//	          policies:
//	            - Statement: [{Effect: Allow, Action: "codepipeline:*", Resource: "*"}]
//	  organization:
//	    management_account: "123456789012"  # default: the default account
//	    units: [{name: Workloads}, {name: Prod, parent: Workloads}]
type World struct {
	Accounts     []AccountSpec `yaml:"accounts,omitempty" json:"accounts,omitempty"`
	Organization *OrgSpec      `yaml:"organization,omitempty" json:"organization,omitempty"`
}

// AccountSpec is one AWS account.
type AccountSpec struct {
	ID         string     `yaml:"id" json:"id"`
	Name       string     `yaml:"name,omitempty" json:"name,omitempty"`
	Email      string     `yaml:"email,omitempty" json:"email,omitempty"`
	Unit       string     `yaml:"unit,omitempty" json:"unit,omitempty"`
	AccessKeys []KeySpec  `yaml:"access_keys,omitempty" json:"access_keys,omitempty"`
	Roles      []RoleSpec `yaml:"roles,omitempty" json:"roles,omitempty"`
}

// KeySpec is a long-term access key of an IAM user of the account.
type KeySpec struct {
	ID   string `yaml:"id" json:"id"`
	User string `yaml:"user,omitempty" json:"user,omitempty"` // default "emulator"
}

// RoleSpec is an IAM role: who may assume it (its trust policy) and what
// it may do (its permission policies).
type RoleSpec struct {
	Name               string         `yaml:"name" json:"name"`
	TrustPolicy        *Policy        `yaml:"trust_policy,omitempty" json:"trust_policy,omitempty"`
	Policies           []Policy       `yaml:"policies,omitempty" json:"policies,omitempty"`
	MaxSessionDuration fault.Duration `yaml:"max_session_duration,omitempty" json:"max_session_duration,omitzero"` // default 1h, as IAM
}

// OrgSpec is the AWS Organizations organisation.
type OrgSpec struct {
	ManagementAccount string     `yaml:"management_account,omitempty" json:"management_account,omitempty"`
	Units             []UnitSpec `yaml:"units,omitempty" json:"units,omitempty"`
}

// UnitSpec is an organisational unit; names are unique in a world file.
type UnitSpec struct {
	Name   string `yaml:"name" json:"name"`
	Parent string `yaml:"parent,omitempty" json:"parent,omitempty"` // another unit's name; absent: the root
}

// IAM's limits on roles (IAM User Guide, "IAM and AWS STS quotas").
const (
	defaultMaxSession = time.Hour
	minMaxSession     = time.Hour
	maxMaxSession     = 12 * time.Hour
)

var (
	reAccountID = regexp.MustCompile(`^[0-9]{12}$`)
	reKeyID     = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)
	reRoleName  = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	reUserName  = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
)

// FieldError is a world mistake with the field it is in
// ("aws.accounts[0].roles[1].trust_policy").
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field string, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Validate checks the section; defaultAccount is the account the
// emulators serve without one (codepipeline.account).
func (w World) Validate(defaultAccount string) error {
	_, err := newDirectory(w, defaultAccount, time.Now)
	return err
}

func (w World) check(defaultAccount string) error {
	ids := map[string]bool{}
	keys := map[string]bool{}
	for i, a := range w.Accounts {
		at := fmt.Sprintf("aws.accounts[%d]", i)
		if !reAccountID.MatchString(a.ID) {
			return fieldErr(at+".id", "account id %q: want 12 digits (quote it in YAML)", a.ID)
		}
		if ids[a.ID] {
			return fieldErr(at+".id", "account %s is declared twice", a.ID)
		}
		ids[a.ID] = true
		for j, k := range a.AccessKeys {
			kat := fmt.Sprintf("%s.access_keys[%d]", at, j)
			if !reKeyID.MatchString(k.ID) {
				return fieldErr(kat+".id", "access key id %q: want 16 to 128 capital letters and digits (AKIA…)", k.ID)
			}
			if keys[k.ID] {
				return fieldErr(kat+".id", "access key %s is declared twice", k.ID)
			}
			keys[k.ID] = true
			if k.User != "" && !reUserName.MatchString(k.User) {
				return fieldErr(kat+".user", "user name %q is not a valid IAM user name", k.User)
			}
		}
		roles := map[string]bool{}
		for j, r := range a.Roles {
			rat := fmt.Sprintf("%s.roles[%d]", at, j)
			if !reRoleName.MatchString(r.Name) {
				return fieldErr(rat+".name", "role name %q is not a valid IAM role name", r.Name)
			}
			if roles[r.Name] {
				return fieldErr(rat+".name", "role %s is declared twice", r.Name)
			}
			roles[r.Name] = true
			if r.TrustPolicy != nil {
				if err := r.TrustPolicy.validate(true); err != nil {
					return &FieldError{Field: rat + ".trust_policy", Err: err}
				}
			}
			for n := range r.Policies {
				if err := r.Policies[n].validate(false); err != nil {
					return &FieldError{Field: fmt.Sprintf("%s.policies[%d]", rat, n), Err: err}
				}
			}
			if d := r.MaxSessionDuration.Duration; d != 0 && (d < minMaxSession || d > maxMaxSession) {
				return fieldErr(rat+".max_session_duration", "%v: IAM allows 1h to 12h", d)
			}
		}
	}
	units := map[string]bool{}
	if o := w.Organization; o != nil {
		if o.ManagementAccount != "" && !reAccountID.MatchString(o.ManagementAccount) {
			return fieldErr("aws.organization.management_account", "%q: want 12 digits", o.ManagementAccount)
		}
		for i, u := range o.Units {
			at := fmt.Sprintf("aws.organization.units[%d]", i)
			if u.Name == "" || len(u.Name) > 128 {
				return fieldErr(at+".name", "a unit name is 1 to 128 characters")
			}
			if units[u.Name] {
				return fieldErr(at+".name", "unit %q is declared twice", u.Name)
			}
			if u.Parent != "" && !units[u.Parent] {
				return fieldErr(at+".parent", "unit %q is not declared before it", u.Parent)
			}
			units[u.Name] = true
		}
	}
	for i, a := range w.Accounts {
		if a.Unit == "" {
			continue
		}
		if w.Organization == nil {
			return fieldErr(fmt.Sprintf("aws.accounts[%d].unit", i), "there is no organization section")
		}
		if !units[a.Unit] {
			return fieldErr(fmt.Sprintf("aws.accounts[%d].unit", i), "unit %q is not declared in aws.organization.units", a.Unit)
		}
	}
	if !reAccountID.MatchString(defaultAccount) {
		return errors.New("default account " + defaultAccount + ": want 12 digits")
	}
	return nil
}
