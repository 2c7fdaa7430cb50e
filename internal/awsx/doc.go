// Package awsx is the one place rotor's AWS targets get their SDK
// configuration from: the standard credential chain (environment, shared
// config and profiles, SSO, IMDS), an optional assumed role, an endpoint
// override for the emulators and moto, a shared HTTP client sized for many
// concurrent calls, a retryer that leaves pacing to rotor's adaptive limiter
// (package ratelimit, hooked into each attempt by Pace), and sanitised errors.
//
// Every AWS target builds its clients the same way:
//
//	cfg, err := awsx.Load(ctx, awsx.Config{Region: "us-east-1"})
//	lim := ratelimit.NewGroup(ratelimit.Options{})
//	client := codepipeline.NewFromConfig(cfg, func(o *codepipeline.Options) {
//		o.APIOptions = append(o.APIOptions, awsx.Pace(lim, nil))
//	})
//	…
//	if err != nil { return awsx.Sanitize(err, tok) }
package awsx
