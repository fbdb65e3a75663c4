package broker

// Caller is the person behind a call, as the edge verified it: the identity proof
// checked against STS (never a name from an event or a body), the principal key
// derived from it, and whether the approvers' allowlist names it.
type Caller struct {
	// ARN is the IAM principal STS answered for the proof.
	ARN string
	// Key is the principal key the two-person rule compares: two calls with the same
	// key are one person, whatever their session names.
	Key string
	// CanApprove reports that the caller matches the approvers' allowlist.
	CanApprove bool
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
