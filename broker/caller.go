package broker

// Caller is the person behind a call, as the edge verified it: the identity proof
// checked against STS (never a name from an event or a body), the principal key
// derived from it, and what the allowlists let it do. Each permission is false
// unless the edge set it.
type Caller struct {
	// ARN is the IAM principal STS answered for the proof.
	ARN string
	// Key is the principal key the two-person rule compares: two calls with the same
	// key are one person, whatever their session names.
	Key string
	// UserID is STS's unique id of the caller (AIDA... for a user,
	// "<role unique id>:<session>" for a role session): the secret's resource policy
	// names readers by it.
	UserID string
	// CanApprove reports that the approvers' allowlist names the caller and that its
	// key stands for one person (an IAM user or a trusted session, never a role).
	CanApprove bool
	// CanAsk reports that the caller may ask for a role that needs no approval: the
	// requesters' allowlist names it, or there is none and its key stands for one person.
	CanAsk bool
	// CanAskApproval reports that the caller may ask for a role that needs a second
	// person: the requesters' allowlist names it and its key stands for one person.
	CanAskApproval bool
	// Proof and Body are the identity proof the caller sent and the request body it
	// is bound to. The ledgers keep them, so that the function on the other side of
	// the two-person rule can check with STS itself who asked and who decided.
	Proof string
	Body  []byte
}

// authenticated reports whether c names a verified person.
func (c Caller) authenticated() bool { return c.ARN != "" && c.Key != "" }

// checkCaller refuses a call without a verified caller.
func checkCaller(c Caller) error {
	if !c.authenticated() {
		return Errorf(CodeUnauthenticated, "the caller is not authenticated")
	}
	return nil
}
