// Package ha is rotor's high-availability test: several real `rotor serve`
// processes sharing one PostgreSQL database, against the GitHub and
// CodePipeline emulators, with one replica SIGKILLed mid-run and another
// SIGSTOPped past its leases. The verdict comes from records the replicas do
// not control — the audit chain, the emulators' request logs and the tokens
// the pipelines end up holding — not from the replicas' own reports.
//
// It needs PostgreSQL (see internal/store/pgtest) and skips loudly without
// it. Run it alone with:
//
//	go test -v -run TestHA ./test/ha/
package ha
