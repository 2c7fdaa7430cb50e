package server

import (
	"bytes"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/status"
)

// The dashboard's pictures are drawn here, as SVG, from the same data the
// API serves: no chart library, no CDN, nothing to vendor, and a picture
// is a plain GET that a test (or curl) can read. The page shows each one in
// an <img> (from a blob: URL, since it needs the bearer token), where an
// SVG can run no script and load nothing.
//
// Hand-written rather than a library because the three pictures need a few
// rectangles, lines and labels each; the Go SVG libraries (ajstarks/svgo,
// go-echarts) would add a dependency for what fmt and html.EscapeString do.

// chartWidth is the viewBox width; the page scales it to its column.
const chartWidth = 720

// chartStyle colours the pictures like the page, light and dark.
const chartStyle = `<style>
text{font:13px system-ui,-apple-system,"Segoe UI",sans-serif;fill:#1b1f24}
.muted{fill:#57606a}.axis{stroke:#d0d7de}.now{stroke:#0550ae;stroke-dasharray:4 3}
.healthy,.succeeded,.current{fill:#2da44e}.waiting,.grace,.rolled_back{fill:#d4a72c}.rotating{fill:#54aeff}
.unhealthy,.failed{fill:#cf222e}.retired{fill:#8c959f}.pending,.rejected{fill:#8c959f}.expiry{stroke:#cf222e;stroke-width:2}
@media (prefers-color-scheme:dark){text{fill:#e6edf3}.muted{fill:#9da7b3}.axis{stroke:#30363d}.now{stroke:#79c0ff}}
</style>`

// svg builds one picture. Every text that comes from data goes through
// text or attr, which escape it.
type svg struct {
	b      bytes.Buffer
	height int
}

func newSVG(height int, title, desc string) *svg {
	s := &svg{height: height}
	fmt.Fprintf(&s.b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="t d">`, chartWidth, height, chartWidth, height)
	fmt.Fprintf(&s.b, `<title id="t">%s</title><desc id="d">%s</desc>%s`, esc(title), esc(desc), chartStyle)
	return s
}

func esc(s string) string { return html.EscapeString(s) }

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func (s *svg) rect(x, y, w, h float64, class, tip string) {
	if w < 1 {
		w = 1
	}
	fmt.Fprintf(&s.b, `<rect x="%s" y="%s" width="%s" height="%s" class="%s">`, num(x), num(y), num(w), num(h), esc(class))
	if tip != "" {
		fmt.Fprintf(&s.b, `<title>%s</title>`, esc(tip))
	}
	s.b.WriteString(`</rect>`)
}

func (s *svg) line(x1, y1, x2, y2 float64, class string) {
	fmt.Fprintf(&s.b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="%s"/>`, num(x1), num(y1), num(x2), num(y2), esc(class))
}

func (s *svg) text(x, y float64, anchor, class, t string) {
	fmt.Fprintf(&s.b, `<text x="%s" y="%s" text-anchor="%s" class="%s">%s</text>`, num(x), num(y), anchor, esc(class), esc(t))
}

func (s *svg) bytes() []byte {
	s.b.WriteString(`</svg>`)
	return s.b.Bytes()
}

// axis maps times to x between x0 and x1.
type axis struct {
	from, to time.Time
	x0, x1   float64
}

func (a axis) x(t time.Time) float64 {
	span := a.to.Sub(a.from)
	if span <= 0 {
		return a.x1
	}
	f := float64(t.Sub(a.from)) / float64(span)
	return a.x0 + min(max(f, 0), 1)*(a.x1-a.x0)
}

// ticks labels the axis at y with its ends and now.
func (a axis) ticks(s *svg, y float64, now time.Time) {
	s.line(a.x0, y, a.x1, y, "axis")
	s.text(a.x0, y+14, "start", "muted", a.from.UTC().Format("2006-01-02 15:04"))
	s.text(a.x1, y+14, "end", "muted", a.to.UTC().Format("2006-01-02 15:04")+" UTC")
	if now.After(a.from) && now.Before(a.to) {
		s.line(a.x(now), 4, a.x(now), y+16, "now")
		s.text(a.x(now), y+28, "middle", "", "now")
	}
}

// timelineSVG draws each version's life: current from its creation until
// the next version replaced it, then the grace window until it was retired
// (or is due to be), and its expiry. Newest on top; at most 12 versions.
func timelineSVG(name string, versions []rotation.Version, now time.Time) []byte {
	shown := versions[:min(len(versions), 12)]
	const lane, top, label = 26, 8, 200
	height := top + lane*max(len(shown), 1) + 44
	s := newSVG(height, "Versions of "+name, fmt.Sprintf("Timeline of the newest %d version(s) of %s: current from creation until replaced, then the grace window until retired, and expiry.", len(shown), name))
	if len(shown) == 0 {
		s.text(chartWidth/2, top+16, "middle", "muted", "no versions yet: adopt or rotate "+name)
		return s.bytes()
	}
	from, to := now, now
	for _, v := range shown {
		from = minTime(from, v.CreatedAt)
		to = maxTime(to, v.RetireAfter)
	}
	to = to.Add(max(to.Sub(from)/8, time.Minute)) // room to the right of now
	ax := axis{from: from, to: to, x0: label, x1: chartWidth - 10}
	// replaced[i]: when the version after shown[i] (newer, at i-1) took over.
	for i, v := range shown {
		y := float64(top + lane*i)
		state := string(v.State)
		s.text(4, y+15, "start", "", fmt.Sprintf("v%d", v.Seq))
		s.text(40, y+15, "start", "muted", state)
		s.text(label-6, y+15, "end", "muted", shortFP(v.Fingerprint))
		end := now
		var replaced time.Time
		for j := i - 1; j >= 0; j-- {
			if st := shown[j].State; st == rotation.VersionCurrent || st == rotation.VersionPrevious || st == rotation.VersionRetired {
				replaced = shown[j].CreatedAt
				break
			}
		}
		if !v.RetiredAt.IsZero() {
			end = v.RetiredAt
		}
		switch v.State {
		case rotation.VersionPending, rotation.VersionRejected:
			s.rect(ax.x(v.CreatedAt)-3, y+4, 6, 16, state, fmt.Sprintf("v%d %s at %s", v.Seq, state, stamp(v.CreatedAt)))
		default:
			cur := end
			if !replaced.IsZero() {
				cur = replaced
			}
			s.rect(ax.x(v.CreatedAt), y+4, ax.x(cur)-ax.x(v.CreatedAt), 16, "current", fmt.Sprintf("v%d current from %s", v.Seq, stamp(v.CreatedAt)))
			if !replaced.IsZero() {
				graceEnd := end
				if v.State == rotation.VersionPrevious && !v.RetireAfter.IsZero() {
					graceEnd = v.RetireAfter
				}
				s.rect(ax.x(replaced), y+4, ax.x(graceEnd)-ax.x(replaced), 16, "grace", fmt.Sprintf("v%d in its grace window from %s until %s", v.Seq, stamp(replaced), stamp(graceEnd)))
			}
			if !v.RetiredAt.IsZero() {
				s.rect(ax.x(v.RetiredAt)-1, y+2, 3, 20, "retired", fmt.Sprintf("v%d retired at %s", v.Seq, stamp(v.RetiredAt)))
			}
		}
		if !v.ExpiresAt.IsZero() {
			if v.ExpiresAt.After(ax.to) {
				s.text(ax.x1, y+15, "end", "muted", "expires in "+status.Human(v.ExpiresAt.Sub(now))+" →")
			} else {
				x := ax.x(v.ExpiresAt)
				s.line(x, y+1, x, y+23, "expiry")
			}
		}
	}
	ax.ticks(s, float64(top+lane*len(shown)+2), now)
	return s.bytes()
}

// activitySVG draws runs over time: one column per period, its runs
// stacked by outcome.
func activitySVG(name string, runs []rotation.Run, now time.Time) []byte {
	const top, h, label = 8, 110, 40
	s := newSVG(top+h+64, "Rotations of "+name, fmt.Sprintf("The newest %d run(s) of %s by outcome over time: succeeded, rolled back, failed.", len(runs), name))
	if len(runs) == 0 {
		s.text(chartWidth/2, top+h/2, "middle", "muted", "no runs yet")
		return s.bytes()
	}
	from := now
	for _, r := range runs {
		from = minTime(from, r.StartedAt)
	}
	// A period that gives at most 30 columns over the span shown.
	period := time.Hour
	for _, p := range []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour} {
		period = p
		if now.Sub(from)/p < 30 {
			break
		}
	}
	from = from.Truncate(period)
	n := int(now.Sub(from)/period) + 1
	type col struct{ ok, back, failed, running int }
	cols := make([]col, n)
	most, totals := 1, map[rotation.RunStatus]int{}
	for _, r := range runs {
		i := min(int(r.StartedAt.Sub(from)/period), n-1)
		switch r.Status {
		case rotation.RunSucceeded:
			cols[i].ok++
		case rotation.RunRolledBack:
			cols[i].back++
		case rotation.RunFailed:
			cols[i].failed++
		default:
			cols[i].running++
		}
		totals[r.Status]++
		most = max(most, cols[i].ok+cols[i].back+cols[i].failed+cols[i].running)
	}
	w := float64(chartWidth-label-10) / float64(n)
	unit := float64(h) / float64(most)
	for i, c := range cols {
		x, y := label+float64(i)*w, float64(top+h)
		at := stamp(from.Add(time.Duration(i) * period))
		for _, part := range []struct {
			n     int
			class string
		}{{c.ok, "succeeded"}, {c.back, "rolled_back"}, {c.failed, "failed"}, {c.running, "rotating"}} {
			if part.n == 0 {
				continue
			}
			y -= float64(part.n) * unit
			s.rect(x+1, y, max(w-2, 1), float64(part.n)*unit, part.class, fmt.Sprintf("%d %s in the %s from %s", part.n, part.class, status.Human(period), at))
		}
	}
	s.text(label-6, top+10, "end", "muted", strconv.Itoa(most))
	s.text(label-6, top+h, "end", "muted", "0")
	ax := axis{from: from, to: from.Add(time.Duration(n) * period), x0: label, x1: chartWidth - 10}
	ax.ticks(s, float64(top+h), now)
	s.text(label, top+h+48, "start", "", fmt.Sprintf("per %s: %d succeeded, %d rolled back, %d failed", status.Human(period), totals[rotation.RunSucceeded], totals[rotation.RunRolledBack], totals[rotation.RunFailed]))
	return s.bytes()
}

// stateRow is one bar of bindingsSVG.
type stateRow struct {
	label  string
	counts map[status.Health]int
}

// bindingsSVG draws one bar per row, its bindings stacked by health.
func bindingsSVG(title string, rows []stateRow) []byte {
	const lane, top, label = 24, 8, 200
	height := top + lane*max(len(rows), 1) + 30
	s := newSVG(height, title, title+": bindings by health (healthy, waiting, rotating, unhealthy).")
	most := 1
	for _, r := range rows {
		t := 0
		for _, n := range r.counts {
			t += n
		}
		most = max(most, t)
	}
	unit := float64(chartWidth-label-100) / float64(most) // room for the count after the bar
	for i, r := range rows {
		y := float64(top + lane*i)
		s.text(4, y+15, "start", "", r.label)
		x, total := float64(label), 0
		for _, st := range status.HealthStates {
			n := r.counts[st]
			if n == 0 {
				continue
			}
			s.rect(x, y+3, float64(n)*unit, 18, string(st), fmt.Sprintf("%s: %d %s", r.label, n, st))
			x += float64(n) * unit
			total += n
		}
		s.text(x+6, y+15, "start", "muted", fmt.Sprintf("%d/%d healthy", r.counts[status.Healthy], total))
	}
	if len(rows) == 0 {
		s.text(chartWidth/2, top+16, "middle", "muted", "no bindings yet")
	}
	// The legend.
	x := float64(label)
	for _, st := range status.HealthStates {
		y := float64(top + lane*max(len(rows), 1) + 8)
		s.rect(x, y, 12, 12, string(st), "")
		s.text(x+16, y+10, "start", "", string(st))
		x += 100
	}
	return s.bytes()
}

func writeSVG(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// Opened on its own, the picture is a document: it may style itself
	// and do nothing else.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	_, _ = w.Write(b)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// shortFP is a fingerprint short enough for the timeline's label column.
func shortFP(fp string) string {
	fp = strings.TrimPrefix(fp, "sha256:")
	if len(fp) > 10 {
		return fp[:10] + "…"
	}
	return fp
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
