package postgres

import (
	"errors"
	"strings"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/jackc/pgx/v5/pgconn"
)

// Functions names one set of db_admin functions, whose own SQLSTATEs (FFBxx) mean
// what that set's script says: sql/007_*.sql and sql/008_*.sql number
// their refusals independently (FFB07 is a missing approval in one and a role the job
// did not lock in the other).
type Functions int

// The sets of db_admin functions a Session calls.
const (
	// BrokerFunctions are sql/007_*.sql's, called by the broker's and the
	// approver's logins.
	BrokerFunctions Functions = iota
	// ActivityFunctions are sql/008_*.sql's, called by the activity job's
	// login.
	ActivityFunctions
)

// SQLSTATEs with a rule of their own.
const (
	// tooManyConnections (53300) is the login's CONNECTION LIMIT or the server's
	// max_connections.
	tooManyConnections = "53300"
	// cannotConnectNow (57P03) is a server starting up or shutting down.
	cannotConnectNow = "57P03"
)

// slotRefused reports whether err is the server refusing a connection that a later
// attempt may get: too_many_connections or cannot_connect_now. Connect retries on
// these.
func slotRefused(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == tooManyConnections || pgErr.Code == cannotConnectNow)
}

// busy reports whether SQLSTATE code says the server could not do the work now but
// may later: the whole class 53 (insufficient resources: too many connections, out of
// memory, disk full, a configuration limit), a statement timeout (57014), a lock not
// available (55P03), a serialization failure (40001) or a deadlock (40P01).
//
// The whole of class 53 counts, not only 53300: each of its conditions is the
// server's, passes without a change to the request, and is what an operator must
// see as "unavailable" (CodeUnavailable, CategoryServer when connecting) rather than
// as a broker bug (CodeInternal). The activity job always read it so; the broker's
// store did for 53300 only.
func busy(code string) bool {
	switch code {
	case "57014", "55P03", "40001", "40P01":
		return true
	}
	return strings.HasPrefix(code, "53")
}

// connectionLost reports whether SQLSTATE code ends the session: the class 08
// (connection exception) and the server's shutdowns (57P01 admin_shutdown, 57P02
// crash_shutdown, 57P03 cannot_connect_now).
func connectionLost(code string) bool {
	switch code {
	case "57P01", "57P02", cannotConnectNow:
		return true
	}
	return strings.HasPrefix(code, "08")
}

// refusal returns the broker's code for a refusal that the functions fs raise on
// purpose, and the message to show for it: the function's own text (which names no
// secret) unless the set's table gives a fixed one. ok is false for any other
// SQLSTATE. This is the one table of db_admin SQLSTATEs; the scripts' headers list
// them.
func refusal(fs Functions, pgErr *pgconn.PgError) (code broker.Code, msg string, ok bool) {
	msg = pgErr.Message
	switch fs {
	case BrokerFunctions:
		switch pgErr.Code {
		case "FFB01":
			return broker.CodeInvalidRole, msg, true
		case "FFB02":
			return broker.CodeInvalidPassword, msg, true
		case "FFB03":
			return broker.CodeInvalidHours, msg, true
		case "FFB04":
			return broker.CodeInvalidRequest, msg, true
		case "FFB06", "FFB07", "FFB13":
			return broker.CodeForbidden, msg, true
		case "FFB05", "FFB08", "FFB09", "FFB14", "FFB15":
			return broker.CodeConflict, msg, true
		case "FFB10", "FFB12":
			return broker.CodeNotFound, msg, true
		case "FFB16":
			return broker.CodeLifetimeExceeded, msg, true
		case "FFB17":
			return broker.CodeTooManyGrants, msg, true
		}
	case ActivityFunctions:
		switch pgErr.Code {
		case "FFB04":
			return broker.CodeInvalidRequest, "invalid activity policy or checkpoint: " + msg, true
		case "FFB07":
			return broker.CodeConflict, "the role is not locked by the activity job", true
		case "FFB08":
			return broker.CodeForbidden, "the admin cannot manage this role", true
		case "FFB09":
			return broker.CodeConflict, "another activity run moved the checkpoint first", true
		case "FFB11":
			return broker.CodeForbidden, "the activity options are looser than the database's policy: " + msg, true
		case "FFB21":
			return broker.CodeConflict, "the database refused the drop: " + msg, true
		case "42704": // undefined_object: no such role
			return broker.CodeNotFound, "no such role", true
		}
	}
	return "", "", false
}
