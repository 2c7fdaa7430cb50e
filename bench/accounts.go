package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator"
	"github.com/rotor-ci/rotor/internal/emulator/awsaccounts"
	cpemu "github.com/rotor-ci/rotor/internal/emulator/codepipeline"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
	ghemu "github.com/rotor-ci/rotor/internal/emulator/github"
	"github.com/rotor-ci/rotor/internal/installyaml"
)

// accountsOptions shape the many-accounts scenario (-accounts K): K
// accounts of N pipelines each in us-east-1, every account throttled at R
// calls/s for GetPipeline and UpdatePipeline with its own buckets, one
// codepipeline target listing every account (accounts:), one rotation.
type accountsOptions struct {
	Accounts int
	SlowRate float64 // the last account's throttle; 0: like the others
}

func accountID(i int) string { return fmt.Sprintf("1000000000%02d", i+1) }

// runAccounts measures adopt and rotate (warm, then cold: the inventory
// forgotten) over K accounts, and, with a slow account, when the other
// accounts' last binding switched.
func runAccounts(ctx context.Context, bin, tmp string, o options, ao accountsOptions, stdout, stderr io.Writer) error {
	n, rate := o.Ns[0], o.Rates[0]
	type run struct {
		slow float64
		cold bool
	}
	runs := []run{{ao.SlowRate, false}, {ao.SlowRate, true}}
	if ao.SlowRate > 0 {
		runs = append(runs, run{0, false}) // the comparison: no slow account
	}
	for _, r := range runs {
		label := fmt.Sprintf("%d accounts × N=%d, R=%g/s, L=%s", ao.Accounts, n, rate, o.Latency)
		if r.slow > 0 {
			label += fmt.Sprintf(", last account at %g/s", r.slow)
		}
		if r.cold {
			label += ", cold"
		}
		fmt.Fprintf(stderr, "%s …\n", label)
		line, err := measureAccounts(ctx, bin, tmp, n, rate, r.slow, r.cold, o, ao)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		fmt.Fprintf(stdout, "%s\n%s\n", label, line)
	}
	return nil
}

func measureAccounts(ctx context.Context, bin, tmp string, n int, rate, slow float64, cold bool, o options, ao accountsOptions) (string, error) {
	dir, err := os.MkdirTemp(tmp, "accounts-")
	if err != nil {
		return "", err
	}
	f, err := startAccounts(ctx, dir, n, rate, slow, o.Latency, ao.Accounts)
	if err != nil {
		return "", err
	}
	defer f.close()
	old := f.oldToken()
	p, err := f.runRotor(ctx, bin, old, "adopt", credential, "--token-stdin", "--confirm-unverifiable")
	if err != nil {
		return "", fmt.Errorf("adopt: %w\n%s", err, p.Output)
	}
	adopt := p.Wall
	tok, err := f.newToken()
	if err != nil {
		return "", err
	}
	if cold {
		if err := f.forgetInventory(ctx); err != nil {
			return "", err
		}
	}
	places := f.sb.CodePipeline.Places()[1:] // the default place holds nothing
	at5 := map[string]fault.Count{}
	for _, pl := range places {
		f.sb.CodePipeline.In(pl.Account, pl.Region).Faults().ResetCounts()
	}
	warm := time.AfterFunc(5*time.Second, func() {
		for _, pl := range places {
			for op, c := range f.sb.CodePipeline.In(pl.Account, pl.Region).Faults().Counts() {
				c0 := at5[op]
				at5[op] = fault.Count{Requests: c0.Requests + c.Requests, Throttled: c0.Throttled + c.Throttled}
			}
		}
	})
	start := time.Now()
	r, err := f.runRotor(ctx, bin, tok, "rotate", credential, "--token-stdin")
	warm.Stop()
	if err != nil {
		return "", fmt.Errorf("rotate: %w\n%s", err, r.Output)
	}
	var (
		b                 strings.Builder
		late, lateThr     int64
		othersEnd, slowAt time.Duration
		notNew            int
	)
	for i, pl := range places {
		srv := f.sb.CodePipeline.In(pl.Account, pl.Region)
		var last time.Time
		for _, u := range srv.Updates() {
			if u.Time.After(last) {
				last = u.Time
			}
		}
		end := last.Sub(start)
		if slow > 0 && i == len(places)-1 {
			slowAt = end
		} else {
			othersEnd = max(othersEnd, end)
		}
		for _, op := range throttledOps {
			c := srv.Faults().Counts()[op]
			late += c.Requests
			lateThr += c.Throttled
		}
		for _, name := range srv.PipelineNames() {
			if got, _ := srv.StoredToken(name, "Source"); got.Reveal() != tok.Reveal() {
				notNew++
			}
		}
	}
	for _, op := range throttledOps {
		late -= at5[op].Requests
		lateThr -= at5[op].Throttled
	}
	floor := time.Duration(float64(n) / rate * float64(time.Second))
	fmt.Fprintf(&b, "  adopt %.1f s (%.2f× the floor %.0f s); rotate %.1f s (%.2f×), peak RSS %.0f MiB, CPU %.1f s\n",
		adopt.Seconds(), adopt.Seconds()/floor.Seconds(), floor.Seconds(), r.Wall.Seconds(), r.Wall.Seconds()/floor.Seconds(), mib(r.MaxRSS), r.CPU.Seconds())
	fmt.Fprintf(&b, "  throttled after the first 5 s: %.2f%% (%d of %d GetPipeline/UpdatePipeline); pipelines not on the new token: %d\n",
		100*share(lateThr, late), lateThr, late, notNew)
	if slow > 0 {
		fmt.Fprintf(&b, "  the other %d accounts' last update at %.1f s (%.2f× the floor); the slow account's at %.1f s\n", len(places)-1, othersEnd.Seconds(), othersEnd.Seconds()/floor.Seconds(), slowAt.Seconds())
	} else {
		fmt.Fprintf(&b, "  last update in any account at %.1f s (%.2f× the floor)\n", othersEnd.Seconds(), othersEnd.Seconds()/floor.Seconds())
	}
	return b.String(), nil
}

// startAccounts starts the emulators with k accounts of n pipelines each
// and writes a rotor installation whose one target lists every account.
func startAccounts(ctx context.Context, dir string, n int, rate, slow float64, latency time.Duration, k int) (*fleet, error) {
	w := emulator.World{
		GitHub: ghemu.World{
			Users:  []ghemu.UserSpec{{Login: user}},
			Repos:  []ghemu.RepoSpec{{Owner: user, Name: repo, Private: true, Branches: []string{"master"}}},
			Tokens: []ghemu.WorldToken{{TokenSpec: ghemu.TokenSpec{User: user, Kind: ghemu.KindClassic, Note: tokenNote, Scopes: []string{"repo", "admin:repo_hook"}}}},
		},
		CodePipeline: cpemu.World{Account: cpemu.DefaultAccount, Region: cpemu.DefaultRegion},
	}
	for _, op := range []string{"GetPipeline", "UpdatePipeline"} {
		w.Faults = append(w.Faults, fault.Rule{Service: cpemu.Service, Operation: op, RatePerSecond: rate, Burst: 1})
	}
	w.Faults = append(w.Faults, fault.Rule{Service: cpemu.Service, Latency: fault.Duration{Duration: latency}})
	var trust awsaccounts.Policy
	if err := json.Unmarshal([]byte(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+cpemu.DefaultAccount+`:root"},"Action":"sts:AssumeRole"}]}`), &trust); err != nil {
		return nil, err
	}
	var accounts []installyaml.Account
	for a := range k {
		id := accountID(a)
		rs := cpemu.RegionSpec{Account: id, Region: cpemu.DefaultRegion}
		for i := range n {
			p := strings.ReplaceAll(string(emulator.GitHubPipeline(pipelineName(i), user, repo, "master", tokenNote)), cpemu.DefaultAccount, id)
			rs.Pipelines = append(rs.Pipelines, cpemu.PipelineSpec{JSON: []byte(p)})
		}
		if slow > 0 && a == k-1 {
			for _, op := range []string{"GetPipeline", "UpdatePipeline"} {
				rs.Faults = append(rs.Faults, fault.Rule{Operation: op, RatePerSecond: slow, Burst: 1})
			}
		}
		w.CodePipeline.Regions = append(w.CodePipeline.Regions, rs)
		w.AWS.Accounts = append(w.AWS.Accounts, awsaccounts.AccountSpec{ID: id, Roles: []awsaccounts.RoleSpec{{Name: "rotor", TrustPolicy: &trust}}})
		accounts = append(accounts, installyaml.Account{RoleARN: "arn:aws:iam::" + id + ":role/rotor", Regions: []string{cpemu.DefaultRegion}})
	}
	f := &fleet{dir: dir}
	if err := f.start(ctx, w, "written by the rotor benchmark (many accounts)", installyaml.Target{Match: &installyaml.Match{Owner: user, Repo: repo}, Accounts: accounts}); err != nil {
		return nil, err
	}
	return f, nil
}
