package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// report prints the tables (Markdown) and the targets.
func report(w io.Writer, o options, results []result) {
	byShape := map[shape][]result{}
	var shapes []shape
	for _, r := range results {
		if _, ok := byShape[r.Shape]; !ok {
			shapes = append(shapes, r.Shape)
		}
		byShape[r.Shape] = append(byShape[r.Shape], r)
	}

	fmt.Fprintf(w, "\n### rotor rotate (medians of %d run(s); min–max in brackets)\n\n", o.Runs)
	fmt.Fprintln(w, "| shape | wall | floor N/R | rotor / floor | floor from rotor's own calls | requests: Get / Update / ListTags / List (throttled) | throttled after 5 s | peak RSS | CPU | pipelines not on the new token | I4 broken |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range shapes {
		rs := byShape[s]
		wall := durations(rs, func(r result) time.Duration { return r.Rotor.Wall })
		floor, own, ratio := "–", "–", "–"
		if s.Rate > 0 {
			floor = secs(s.floor())
			ratio = fmt.Sprintf("%.2f×", median(wall).Seconds()/s.floor().Seconds())
			own = secs(median(durations(rs, func(r result) time.Duration { return r.Rotor.ownFloor(s.Rate) })))
		}
		calls := make([]string, 0, 4)
		for _, op := range []string{"GetPipeline", "UpdatePipeline", "ListTagsForResource", "ListPipelines"} {
			req := median(ints(rs, func(r result) int64 { return r.Rotor.Counts["codepipeline "+op].Requests }))
			thr := median(ints(rs, func(r result) int64 { return r.Rotor.Counts["codepipeline "+op].Throttled }))
			calls = append(calls, fmt.Sprintf("%d (%d)", req, thr))
		}
		late := floats(rs, func(r result) float64 { return share(r.Rotor.LateThrottled, r.Rotor.LateRequests) })
		rss := ints(rs, func(r result) int64 { return r.Rotor.MaxRSS })
		var old, i4 int
		for _, r := range rs {
			old += r.RotorCheck.NotOnNew
			i4 += r.RotorCheck.I4Broken
		}
		cpu := durations(rs, func(r result) time.Duration { return r.Rotor.CPU })
		fmt.Fprintf(w, "| %s | %s %s | %s | %s | %s | %s | %.2f%% %s | %.0f MiB %s | %s | %d | %d |\n",
			s, secs(median(wall)), spanD(wall), floor, ratio, own, strings.Join(calls, " / "),
			100*median(late), spanF(late, "%.2f%%", 100), mib(median(rss)), spanI(rss, mib), secs(median(cpu)), old, i4)
	}

	fmt.Fprintf(w, "\n### The seed procedure scripted with the AWS CLI (sequential)\n\n")
	fmt.Fprintln(w, "| N | pipelines timed | wall for those | per pipeline | for all N | CLI / rotor | I4 broken / not on new token |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, n := range o.Ns {
		var rs []result
		for _, s := range shapes {
			if s.N == n {
				for _, r := range byShape[s] {
					if r.CLI != nil {
						rs = append(rs, r)
					}
				}
			}
		}
		if len(rs) == 0 {
			continue
		}
		walls := durations(rs, func(r result) time.Duration { return r.CLI.Wall })
		per := durations(rs, func(r result) time.Duration { return r.CLI.PerPipe })
		timed := rs[0].CLI.Pipelines
		all := median(per) * time.Duration(n)
		allLabel := secs(all)
		if timed < n {
			allLabel += fmt.Sprintf(" **extrapolated** from %d", timed)
		}
		var ratios []string
		for _, s := range shapes {
			if s.N != n || s.Cold {
				continue
			}
			rw := median(durations(byShape[s], func(r result) time.Duration { return r.Rotor.Wall }))
			ratios = append(ratios, fmt.Sprintf("%.0f× (vs %s)", all.Seconds()/rw.Seconds(), rateLabel(s.Rate)))
		}
		var i4, notNew int
		for _, r := range rs {
			i4 += r.CLICheck.I4Broken
			notNew += r.CLICheck.NotOnNew
		}
		fmt.Fprintf(w, "| %d | %d | %s %s | %.2f s | %s | %s | %d / %d |\n", n, timed, secs(median(walls)), spanD(walls),
			median(per).Seconds(), allLabel, strings.Join(ratios, ", "), i4, notNew)
	}
	var cliThrottled int64
	for _, r := range results {
		for _, c := range r.CLICounts {
			cliThrottled += c.Throttled
		}
	}
	fmt.Fprintf(w, "\n(AWS CLI requests throttled in all runs: %d; it never comes near R.)\n", cliThrottled)

	fmt.Fprintln(w, "\n### Targets")
	fmt.Fprintln(w)
	for _, s := range shapes {
		rs := byShape[s]
		wall := median(durations(rs, func(r result) time.Duration { return r.Rotor.Wall }))
		switch {
		case s.Cold:
			// Not a target: how a first rotation on a new machine fares.
		case s.N == 1000 && s.Rate == 20:
			late := median(floats(rs, func(r result) float64 { return share(r.Rotor.LateThrottled, r.Rotor.LateRequests) }))
			verdict(w, wall <= s.floor()*6/5, "%s: %s ≤ 1.2 × floor (%s)", s, secs(wall), secs(s.floor()*6/5))
			verdict(w, late < 0.01, "%s: %.2f%% < 1%% throttled after the first 5 s", s, 100*late)
		case s.N == 1000 && s.Rate == 0:
			verdict(w, wall < 10*time.Second, "%s: %s < 10 s", s, secs(wall))
		}
		if s.N == 1000 && !s.Cold {
			rss := median(ints(rs, func(r result) int64 { return r.Rotor.MaxRSS }))
			verdict(w, rss < 100<<20, "%s: peak RSS %.0f MiB < 100 MB", s, mib(rss))
		}
		var bad int
		for _, r := range rs {
			if !r.RotorCheck.ok() {
				bad++
			}
		}
		verdict(w, bad == 0, "%s: every pipeline on the new token and I4 held, in every run (%d run(s) with a problem)", s, bad)
	}
	for _, s := range shapes {
		if s.N != 100 || s.Cold {
			continue
		}
		var per []time.Duration
		for _, r := range results {
			if r.Shape.N == 100 && r.CLI != nil {
				per = append(per, r.CLI.PerPipe)
			}
		}
		if len(per) == 0 {
			continue
		}
		all := median(per) * 100
		wall := median(durations(byShape[s], func(r result) time.Duration { return r.Rotor.Wall }))
		if s.Rate > 0 {
			// No tool beats the floor: the ratio is bound by CLI / floor.
			fmt.Fprintf(w, "- INFO   %s: AWS CLI %s / rotor %s = %.0f× (at most CLI / floor = %.0f× for any tool at this throttle)\n",
				s, secs(all), secs(wall), all.Seconds()/wall.Seconds(), all.Seconds()/s.floor().Seconds())
			continue
		}
		verdict(w, all >= 50*wall, "%s: AWS CLI %s / rotor %s = %.0f× ≥ 50×", s, secs(all), secs(wall), all.Seconds()/wall.Seconds())
	}
}

func verdict(w io.Writer, ok bool, format string, a ...any) {
	mark := "MET "
	if !ok {
		mark = "MISSED"
	}
	fmt.Fprintf(w, "- %s %s\n", mark, fmt.Sprintf(format, a...))
}

func rateLabel(r float64) string {
	if r <= 0 {
		return "unthrottled"
	}
	return fmt.Sprintf("R=%g/s", r)
}

func share(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
}

func durations(rs []result, f func(result) time.Duration) []time.Duration {
	out := make([]time.Duration, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func ints(rs []result, f func(result) int64) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func floats(rs []result, f func(result) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

// median of an odd count is the middle value; of an even count, the lower
// middle one (a value that was measured).
func median[T int64 | float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func spanD(xs []time.Duration) string {
	if len(xs) < 2 {
		return ""
	}
	return fmt.Sprintf("(%.2f–%.2f)", slices.Min(xs).Seconds(), slices.Max(xs).Seconds())
}

func spanF(xs []float64, format string, scale float64) string {
	if len(xs) < 2 {
		return ""
	}
	return "(" + fmt.Sprintf(format, scale*slices.Min(xs)) + "–" + fmt.Sprintf(format, scale*slices.Max(xs)) + ")"
}

func spanI(xs []int64, f func(int64) float64) string {
	if len(xs) < 2 {
		return ""
	}
	return fmt.Sprintf("(%.0f–%.0f)", f(slices.Min(xs)), f(slices.Max(xs)))
}
