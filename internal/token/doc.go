// Package token holds rotor's secret type and what rotor knows about GitHub
// token formats.
//
// A Token redacts itself in every format Go knows how to print: fmt verbs,
// JSON, text marshalling and slog. The only way to its bytes is Reveal, so a
// reviewer can grep for every place a token leaves memory.
package token
