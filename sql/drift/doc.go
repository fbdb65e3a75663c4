// Package drift checks a live database against ffbroker's role model (the psql
// scripts of sql/, see its README.md): the role model's verification queries and
// production checklist (section 14), the db_admin functions and the privileges of
// the function logins. Verify returns one Check per expectation, so that drift from
// the role model shows up as failed checks; `ffbroker verify` prints them.
package drift
