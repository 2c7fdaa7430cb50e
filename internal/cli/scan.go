package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/scan"
	"github.com/rotor-ci/rotor/internal/secretfile"
	"github.com/rotor-ci/rotor/internal/status"
	"github.com/rotor-ci/rotor/internal/token"
	"github.com/rotor-ci/rotor/internal/wiring"
)

// defaultGitHubAPI is asked by --live when no config names another.
const defaultGitHubAPI = "https://api.github.com"

func newScanCmd(app *App) *cobra.Command {
	var (
		failOn      string
		live        bool
		liveUnknown bool
		maxSize     string
		noIgnore    bool
		format      string
		allow       []string
		sarifOutput bool // -o sarif, which the global flag does not know
		ghOwner     string
		ghTokenFile string
	)
	cmd := &cobra.Command{
		Use:   "scan [PATH...] [--github OWNER]",
		Short: "Find GitHub tokens, and rotor's own old tokens, left in files",
		Long: `Scan walks files and directories for GitHub tokens (ghp_, github_pat_, gho_,
ghu_, ghr_, ghs_), for pipeline JSON files that hold a real OAuthToken
(get-pipeline output and the update-pipeline input made from it), and for
CloudFormation/CDK templates with a literal OAuthToken instead of a
{{resolve:secretsmanager:…}} or {{resolve:ssm-secure:…}} reference.

When the config and rotor's store exist, each token is matched by
fingerprint against the versions rotor holds: current, previous (still
valid until retired) or retired (dead, but still lying there). A token
whose checksum fails is reported as a likely false positive. No token value
is ever printed: only the prefix, the last 4 characters and the
fingerprint.

Inside a git work tree .gitignore is respected (--no-ignore scans ignored
files too); binary files, special files, files over --max-size and
symbolic links found in the tree are skipped and counted.

--github OWNER lists the Actions and Dependabot secrets of OWNER (the
organisation's, those of every repository the token can see, and those of
each repository's environments) and says which may hold a token rotor
knows. GitHub never shows a secret's value, so secrets are matched to
rotor's records by the time GitHub says they were written (updated_at)
against the times rotor wrote each version, not by content. The token comes from --github-token-file (0600) or $GITHUB_TOKEN.

Exit codes: 0 when no finding is at or above --fail-on, 1 when some are,
2 for a usage or config error.
  --fail-on current   a token rotor holds now (or is minting)
  --fail-on previous  that, or one rotor replaced and has not retired yet
  --fail-on any       any finding except a likely false positive (default)
  --fail-on none      never`,
		Example: `  rotor scan .
  rotor scan --fail-on current -o sarif . > rotor-scan.sarif
  rotor scan --live ~/ops ~/pipelines/pipeline.json
  rotor scan --allow sha256:976b57ee8acd .   # a published test vector
  rotor scan --github acme --github-token-file ~/.config/rotor/gh-read`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && ghOwner == "" {
				return errors.New("requires at least 1 PATH, or --github OWNER")
			}
			return nil
		},
		// The global -o accepts table and json; scan also writes SARIF.
		// Take "sarif" out before the shared setup sees it.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if app.Output == "sarif" {
				sarifOutput, app.Output = true, "table"
			}
			return app.setup()
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			out := app.Output
			if sarifOutput {
				out = "sarif"
			}
			if format != "" {
				out = format
			}
			switch out {
			case "table", "json", "yaml", "sarif":
			default:
				return usageErrorf("--format %q: want table, json, yaml or sarif", format)
			}
			th, err := scan.ParseThreshold(failOn)
			if err != nil {
				return &UsageError{Err: err}
			}
			size, err := parseSize(maxSize)
			if err != nil {
				return usageErrorf("--max-size %q: %v", maxSize, err)
			}
			for _, fp := range allow {
				if !isFingerprint(fp) {
					return usageErrorf("--allow %q: want a fingerprint as rotor shows it (sha256: and 12 hex digits)", fp)
				}
			}
			if liveUnknown {
				live = true
			}
			ctx := cmd.Context()
			explicit := cmd.Flags().Changed("config") || os.Getenv("ROTOR_CONFIG") != ""
			src, err := openScanSources(ctx, app.ConfigPath, explicit, live)
			if err != nil {
				return err
			}
			defer src.Close()
			if src.note != "" {
				fmt.Fprintln(app.Err, "rotor scan: "+src.note)
			}
			if ghOwner != "" {
				if err := scanGitHubSecrets(ctx, app, src, out, ghOwner, ghTokenFile); err != nil {
					return err
				}
				if len(args) == 0 {
					return nil
				}
			}
			opts := scan.Options{MaxFileSize: size, NoIgnore: noIgnore, Known: src.known, LiveUnknown: liveUnknown, Allow: allow}
			if live {
				opts.Live = src.live
				if src.known == nil && !liveUnknown {
					fmt.Fprintln(app.Err, "rotor scan: --live asks GitHub only about tokens rotor knows, and no store was read; add --live-unknown to ask about every token found")
				}
			}
			if src.known == nil && (th == scan.FailCurrent || th == scan.FailPrevious) {
				fmt.Fprintf(app.Err, "rotor scan: --fail-on %s needs rotor's store to know which tokens are its own; without it nothing can fail at that level\n", th)
			}
			res, err := scan.Scan(ctx, args, opts)
			if errors.Is(err, scan.ErrNoPath) {
				return &UsageError{Err: err}
			}
			if err != nil {
				return err
			}
			switch out {
			case "json":
				err = scan.WriteJSON(app.Out, res)
			case "yaml":
				err = writeYAML(app.Out, func(w io.Writer) error { return scan.WriteJSON(w, res) })
			case "sarif":
				err = scan.WriteSARIF(app.Out, res, toolVersion())
			default:
				err = scan.WriteTable(app.Out, res)
			}
			if err != nil {
				return err
			}
			if n := res.Failing(th); n > 0 {
				return &scanFailure{n: n, th: th}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&failOn, "fail-on", string(scan.FailAny), "exit 1 when a finding is at or above this level: current, previous, any or none")
	f.BoolVar(&live, "live", false, "ask GitHub whether each token rotor knows still works")
	f.BoolVar(&liveUnknown, "live-unknown", false, "with --live, ask about tokens rotor does not know too")
	f.StringVar(&maxSize, "max-size", "1MiB", "skip files larger than this (B, KiB, MiB, GiB; KB, MB, GB)")
	f.BoolVar(&noIgnore, "no-ignore", false, "scan files that .gitignore excludes too")
	f.StringVar(&format, "format", "", "output format: table, json, yaml or sarif (overrides -o)")
	f.StringVar(&ghOwner, "github", "", "list the Actions and Dependabot secrets of this GitHub user or organisation, matched to rotor's writes by updated_at")
	f.StringVar(&ghTokenFile, "github-token-file", "", "with --github: a file (0600) with the token to list secrets with (default $GITHUB_TOKEN)")
	f.StringArrayVar(&allow, "allow", nil, "a fingerprint (sha256:…) that is not a finding, e.g. a published test vector; repeatable")
	return cmd
}

// scanFailure is a scan that found something at or above --fail-on: exit 1.
type scanFailure struct {
	n  int
	th scan.Threshold
}

func (e *scanFailure) Error() string {
	noun := "findings"
	if e.n == 1 {
		noun = "finding"
	}
	return fmt.Sprintf("%d %s at or above --fail-on %s", e.n, noun, e.th)
}

// scanSources is what the scan may consult: rotor's store (read only
// through VersionByFingerprint) and GitHub (--live). Either may be absent.
type scanSources struct {
	known func(ctx context.Context, fingerprint string) (rotation.Version, error)
	live  func(ctx context.Context, tok token.Token) (bool, error)
	// writes lists rotor's writes of versions into bindings (--github).
	writes func(ctx context.Context) ([]scan.Write, error)
	apiURL string
	note   string // why the store is not consulted, for stderr
	close  func() error
}

func (s *scanSources) Close() error {
	if s.close == nil {
		return nil
	}
	return s.close()
}

// openScanSources loads the config and opens its store when both exist. A
// scan is useful without them, so a missing default config or a store not
// yet created is a note, not an error; a config named explicitly must load.
func openScanSources(ctx context.Context, configPath string, explicit, live bool) (*scanSources, error) {
	src := &scanSources{}
	apiURL := defaultGitHubAPI
	defer func() {
		src.apiURL = apiURL
		if live {
			src.live = wiring.LiveCheck(apiURL)
		}
	}()
	if _, err := os.Stat(configPath); errors.Is(err, fs.ErrNotExist) && !explicit {
		src.note = fmt.Sprintf("no config at %s: scanning without rotor's store, so tokens are not matched to the versions rotor holds", configPath)
		return src, nil
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		return nil, err
	}
	if cfg.GitHub.APIURL != "" {
		apiURL = cfg.GitHub.APIURL
	}
	// Opening a store creates a SQLite file that is missing; a scan must not
	// leave an empty store behind, so look first.
	if p := cfg.StorePath(); p != "" && !strings.HasPrefix(p, ":") {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			src.note = fmt.Sprintf("no store at %s yet: scanning without it, so tokens are not matched to the versions rotor holds", p)
			return src, nil
		}
	}
	st, err := wiring.OpenStore(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	src.known = st.VersionByFingerprint
	src.writes = func(ctx context.Context) ([]scan.Write, error) { return storeWrites(ctx, st, cfg) }
	src.close = st.Close
	return src, nil
}

// storeWrites lists every write of a version into a binding that the
// store records for the configured credentials: binding states applied,
// verified (the run's new version) or rolled back (its previous one).
func storeWrites(ctx context.Context, st status.Reader, cfg *config.Config) ([]scan.Write, error) {
	var out []scan.Write
	for _, cc := range cfg.Credentials {
		versions, err := st.Versions(ctx, cc.Name)
		if err != nil && !errors.Is(err, rotation.ErrNotFound) {
			return nil, err
		}
		bySeq := map[int64]rotation.Version{}
		for _, v := range versions {
			bySeq[v.Seq] = v
		}
		runs, err := st.Runs(ctx, cc.Name, 0)
		if err != nil && !errors.Is(err, rotation.ErrNotFound) {
			return nil, err
		}
		for _, r := range runs {
			states, err := st.Bindings(ctx, r.ID)
			if err != nil {
				return nil, err
			}
			for _, s := range states {
				seq := r.NewSeq
				switch s.Status {
				case rotation.BindingApplied, rotation.BindingVerified:
				case rotation.BindingRolledBack:
					seq = r.PrevSeq
				default:
					continue
				}
				v, ok := bySeq[seq]
				if !ok {
					continue
				}
				out = append(out, scan.Write{Credential: cc.Name, Seq: seq, Fingerprint: v.Fingerprint, State: string(v.State), Binding: s.Binding.ID, At: s.UpdatedAt})
			}
		}
	}
	return out, nil
}

// scanGitHubSecrets is rotor scan --github OWNER.
func scanGitHubSecrets(ctx context.Context, app *App, src *scanSources, format, owner, tokenFile string) error {
	var auth token.Token
	switch {
	case tokenFile != "":
		tok, err := secretfile.Token(tokenFile)
		if err != nil {
			return &UsageError{Err: fmt.Errorf("--github-token-file: %w", err)}
		}
		auth = tok
	case os.Getenv("GITHUB_TOKEN") != "":
		auth = token.New(strings.TrimSpace(os.Getenv("GITHUB_TOKEN")))
	default:
		return usageErrorf("--github needs a token to list secrets with: --github-token-file FILE or $GITHUB_TOKEN")
	}
	gh, err := wiring.GitHubSecrets(src.apiURL)
	if err != nil {
		return err
	}
	var writes []scan.Write
	if src.writes != nil {
		if writes, err = src.writes(ctx); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(app.Err, "rotor scan: no store was read, so no secret can be matched to rotor's writes")
	}
	rep, err := scan.ScanSecrets(ctx, gh, auth, owner, writes)
	if err != nil {
		return fmt.Errorf("scan the secrets of %s: %w", owner, err)
	}
	if format == "json" {
		enc := json.NewEncoder(app.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return scan.WriteSecretTable(app.Out, rep)
}

// parseSize reads "1MiB", "512KiB", "2MB", "1048576".
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 || n*float64(mult) > 1<<40 {
		return 0, errors.New("want a size like 1MiB, 512KiB or 2MB")
	}
	return int64(n * float64(mult)), nil
}

// isFingerprint: "sha256:" and 12 lowercase hex digits, token.Fingerprint's form.
func isFingerprint(s string) bool {
	hex, ok := strings.CutPrefix(s, "sha256:")
	return ok && len(hex) == 12 && strings.Trim(hex, "0123456789abcdef") == ""
}

// toolVersion is rotor's module version for SARIF, when the build knows it.
func toolVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return ""
}
