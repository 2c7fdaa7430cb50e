package ratelimit

// Call is one attempt of a paced call (retries are attempts of their own),
// as an observer hears of it: where it went, how the server answered and
// the rate its limiter allows after that answer. rotor serve counts them in
// its metrics, per account and region, so that an operator sees which
// account is throttled. The fields are bounded sets (services, operations,
// accounts, regions): never a resource's name.
type Call struct {
	Service   string // "codepipeline"
	Operation string // "GetPipeline"
	Account   string // the 12-digit AWS account; "" while it is not known
	Region    string // "eu-west-1"
	Result    string // ResultOK, ResultThrottled or ResultError
	// Rate is the operation's limiter's allowed calls per second once it
	// has heard the answer.
	Rate float64
}

// Results of a Call.
const (
	// ResultOK: the call succeeded.
	ResultOK = "ok"
	// ResultThrottled: the server throttled it (the limiter slows down).
	ResultThrottled = "throttled"
	// ResultError: any other failure. A 4xx answer (a missing pipeline, a
	// validation error) is one, though the limiter counts it a success,
	// since the server had room for it; so are a 5xx and no answer at all.
	ResultError = "error"
)
