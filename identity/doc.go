// Package identity proves and verifies who calls the broker's API, in the manner
// of Vault's AWS IAM auth method, and derives the person key the two-person rule
// compares.
//
// # The proof
//
// A client (the CLI) makes a [Signer] with its own AWS credentials and calls
// [Signer.Proof] for each API request. The proof is an sts:GetCallerIdentity
// request (POST /, body Action=GetCallerIdentity&Version=2011-06-15), SigV4-signed
// for service sts, whose signed headers include
//
//   - [ServerIDHeader]: the deployment the proof is for (e.g. the stack name), and
//   - [DigestHeader]: the [Digest] of the API request (method, path, query, body).
//
// The proof is never sent to STS by the client. It travels in the API request's
// [Header] as base64url (unpadded) JSON {"method","url","headers","body"}; it
// carries the access key id and, for temporary credentials, the session token,
// never the secret key.
//
// # Verifying
//
// A function makes one [Verifier] at cold start and calls [Verifier.Verify] with
// the header's value and the API request it came with. Verify first checks,
// without any network call:
//
//   - the proof decodes (at most [MaxProofSize] bytes, no unknown fields);
//   - it is a POST to the host of the verifier's own STS endpoint, path "/", no
//     query, with exactly the GetCallerIdentity body;
//   - its Authorization is AWS4-HMAC-SHA256, scoped to service sts in the
//     verifier's region, and its SignedHeaders cover host, x-amz-date,
//     x-ffb-server-id and x-ffb-request-digest;
//   - the server id is the verifier's, the digest is the request's, and
//     X-Amz-Date is at most MaxAge old (5 minutes) and at most a minute ahead.
//
// Only then does it forward exactly the signed headers and body to its own
// endpoint (never one the proof names; no redirects; bounded answer) and take the
// caller from STS's GetCallerIdentityResponse. STS checks the signature, the key
// and the credentials' expiry: a forged or tampered proof is refused there.
// Every refusal is an [*Error] whose [Reason] is stable and safe to show; no
// message holds the proof, a signature, a token or a key.
//
// A proof can be replayed, for the same API request to the same deployment, until
// it is MaxAge old: the API's operations must be safe to repeat (they are
// idempotent or refuse a second time), as with Vault's method.
//
// # Who a person is
//
// [ParsePrincipal] derives a [Principal] and its Key from the verified ARN. An
// IAM user is itself (path dropped); root is itself; an assumed-role session
// counts its session name only when AWS enforces it — IAM Identity Center's
// AWSReservedSSO_* roles and the roles named as trusted session roles — and the
// key is then session/<name>, the same person across roles and accounts; every
// other role's sessions are one person, keyed by the role. Federated users and
// any other form are refused. Keys are lower case: IAM names are
// case-insensitive. Keys of different kinds never collide (an IAM user "bob",
// a role "bob" and an SSO session "bob" are three keys).
//
// A key is only as good as the mapping: one person who can use two roles whose
// session names are not enforced, or a role and an SSO session, holds two keys.
// Restrict approvers with [Patterns] to identities that map one person to one
// key (IAM Identity Center roles, IAM users).
//
// [Patterns] are the approvers (FFB_APPROVERS) and the requesters
// (FFB_REQUESTERS): user, role or assumed-role ARN patterns with '*'; an empty
// list matches nobody, so approval fails closed. [Principal.PersonKeyed] tells
// the keys that stand for one person (users, trusted sessions) from a role's.
package identity
