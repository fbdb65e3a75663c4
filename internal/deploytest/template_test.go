package deploytest

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The four functions of the contract, by logical id, with the main package each is
// built from.
var functions = []struct {
	id, cmd string
	env     []string // variables beyond the Globals ones
}{
	{"IssueFunction", "issue", []string{"FFB_STATE_MACHINE_ARN", "FFB_NOTIFY_TOPIC_ARN", "FFB_FUNCTION_ROLE_ARNS"}},
	{"ExpireFunction", "expire", []string{"FFB_NOTIFY_TOPIC_ARN", "FFB_EXPIRY_WARNING", "FFB_FUNCTION_ROLE_ARNS", "FFB_DB_INSTANCES"}},
	{"ApproveFunction", "approve", []string{"FFB_STATE_MACHINE_ARN", "FFB_NOTIFY_TOPIC_ARN"}},
	{"ActivityFunction", "activity", []string{"FFB_ACTIVITY_LOG_GROUP", "FFB_ACTIVITY_DB_USER",
		"FFB_ACTIVITY_LOCK_DAYS", "FFB_ACTIVITY_DROP_DAYS", "FFB_ACTIVITY_APPLY", "FFB_ACTIVITY_EXCLUDE", "FFB_ACTIVITY_DROP_GRACE", "FFB_DB_INSTANCES"}},
}

// globalEnv is what every function gets from Globals, with the fixed values.
var globalEnv = map[string]any{
	"FFB_DB_HOST":               map[string]any{"Ref": "ClusterEndpoint"},
	"FFB_DB_PORT":               map[string]any{"Ref": "ClusterPort"},
	"FFB_DB_NAME":               map[string]any{"Ref": "DatabaseName"},
	"FFB_DB_USER":               map[string]any{"Ref": "BrokerDbUser"},
	"FFB_DB_AUTH":               "iam",
	"FFB_DB_SSLMODE":            "verify-full",
	"FFB_DB_CA_FILE":            map[string]any{"Fn::If": []any{"HasRdsCaLayer", "/opt/rds-ca/global-bundle.pem", map[string]any{"Ref": "AWS::NoValue"}}},
	"FFB_ROLE_PREFIX":           map[string]any{"Ref": "RolePrefix"},
	"FFB_SECRET_PREFIX":         map[string]any{"Ref": "SecretPrefix"},
	"FFB_AUDIT_LOG_GROUP":       map[string]any{"Ref": "AuditLogGroup"},
	"FFB_CLUSTER_ID":            map[string]any{"Ref": "ClusterIdentifier"},
	"FFB_TARGET_HOST":           map[string]any{"Fn::If": []any{"HasFirefighterEndpoint", map[string]any{"Ref": "FirefighterEndpoint"}, map[string]any{"Ref": "AWS::NoValue"}}},
	"FFB_SECRET_KMS_KEY_ID":     map[string]any{"Fn::If": []any{"HasSecretsKmsKey", map[string]any{"Ref": "SecretsKmsKeyArn"}, map[string]any{"Ref": "AWS::NoValue"}}},
	"FFB_SERVER_ID":             map[string]any{"Ref": "AWS::StackId"},
	"FFB_APPROVERS":             map[string]any{"Ref": "Approvers"},
	"FFB_REQUESTERS":            map[string]any{"Ref": "Requesters"},
	"FFB_ACCOUNTS":              map[string]any{"Fn::If": []any{"HasCallerAccounts", map[string]any{"Ref": "CallerAccounts"}, map[string]any{"Ref": "AWS::AccountId"}}},
	"FFB_TRUSTED_SESSION_ROLES": map[string]any{"Ref": "TrustedSessionRoles"},
	"FFB_LIFETIME_CAP_HOURS":    map[string]any{"Ref": "LifetimeCapHours"},
}

// ownLogin is the database login a function uses instead of the broker's.
var ownLogin = map[string]any{"ApproveFunction": map[string]any{"Ref": "ApproverDbUser"}}

// apiRoutes is the contract's API: method and path to the function that serves it.
var apiRoutes = map[string]string{
	"POST /access":                 "IssueFunction",
	"POST /access/{role}/extend":   "IssueFunction",
	"GET /access":                  "IssueFunction",
	"DELETE /access/{role}":        "ExpireFunction",
	"GET /requests/{request_id}":   "IssueFunction",
	"GET /approvals":               "ApproveFunction",
	"POST /approvals/{request_id}": "ApproveFunction",
}

// loadTemplate parses template.yaml.
func loadTemplate(t *testing.T) map[string]any {
	t.Helper()
	return loadYAML(t, repoFile(t, "template.yaml"))
}

// resource returns the template's resource id, checking its type.
func resource(t *testing.T, tpl map[string]any, id, typ string) map[string]any {
	t.Helper()
	r := obj(t, tpl, "Resources", id)
	if got := str(t, r, "Type"); got != typ {
		t.Fatalf("Resources.%s.Type = %q; want %q", id, got, typ)
	}
	return r
}

// functionProperty is a function's property, or the Globals one when the function
// does not set it.
func functionProperty(tpl map[string]any, id, name string) (any, bool) {
	if v, ok := lookup(tpl, "Resources", id, "Properties", name); ok {
		return v, true
	}
	return lookup(tpl, "Globals", "Function", name)
}

// functionEnv is a function's environment: Globals merged with its own.
func functionEnv(t *testing.T, tpl map[string]any, id string) map[string]any {
	t.Helper()
	env := map[string]any{}
	for _, path := range [][]string{{"Globals", "Function"}, {"Resources", id, "Properties"}} {
		if v, ok := lookup(tpl, append(path, "Environment", "Variables")...); ok {
			for k, x := range obj(t, v) {
				env[k] = x
			}
		}
	}
	return env
}

func TestTemplateCfnLint(t *testing.T) {
	bin := requireTool(t, "cfn-lint", "pip install cfn-lint")
	out, err := run(t, 2*time.Minute, nil, bin, "-c", "I", "--", "template.yaml")
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("cfn-lint template.yaml: %v; want exit 0 and no findings:\n%s", err, out)
	}
}

// TestTemplateCfnLintCatches proves that the lint test can fail: cfn-lint must
// refuse a copy of the template with a runtime that does not exist.
func TestTemplateCfnLintCatches(t *testing.T) {
	bin := requireTool(t, "cfn-lint", "pip install cfn-lint")
	src, err := os.ReadFile(repoFile(t, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(src), "Runtime: provided.al2023", "Runtime: provided.al1999", 1)
	if bad == string(src) {
		t.Fatal("template.yaml has no `Runtime: provided.al2023` to break")
	}
	path := t.TempDir() + "/template.yaml"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, 2*time.Minute, nil, bin, path)
	if err == nil || !strings.Contains(out, "E3030") {
		t.Errorf("cfn-lint on a template with Runtime provided.al1999: %v, output:\n%s\nwant a failure with E3030", err, out)
	}
}

func TestTemplateFunctions(t *testing.T) {
	tpl := loadTemplate(t)
	var ids, want []string
	for id, r := range obj(t, tpl, "Resources") {
		if str(t, r, "Type") == "AWS::Serverless::Function" {
			ids = append(ids, id)
		}
	}
	for _, fn := range functions {
		want = append(want, fn.id)
	}
	sort.Strings(ids)
	sort.Strings(want)
	if !slices.Equal(ids, want) {
		t.Errorf("functions in template.yaml = %v; want %v (each with a Makefile build target)", ids, want)
	}
	for _, fn := range functions {
		t.Run(fn.id, func(t *testing.T) {
			r := resource(t, tpl, fn.id, "AWS::Serverless::Function")
			if got := str(t, r, "Metadata", "BuildMethod"); got != "makefile" {
				t.Errorf("Metadata.BuildMethod = %q; want makefile", got)
			}
			for name, want := range map[string]any{
				"Runtime":       "provided.al2023",
				"Architectures": []any{"arm64"},
				"Handler":       "bootstrap",
				"CodeUri":       ".",
				"VpcConfig": map[string]any{
					"SubnetIds":        map[string]any{"Ref": "SubnetIds"},
					"SecurityGroupIds": map[string]any{"Ref": "SecurityGroupIds"},
				},
			} {
				if got, _ := functionProperty(tpl, fn.id, name); !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %v; want %v", name, got, want)
				}
			}

			env := functionEnv(t, tpl, fn.id)
			for k, want := range globalEnv {
				if login, ok := ownLogin[fn.id]; ok && k == "FFB_DB_USER" {
					want = login
				}
				if got := env[k]; !reflect.DeepEqual(got, want) {
					t.Errorf("Environment %s = %v; want %v", k, got, want)
				}
			}
			wantNames := slices.Concat(keys(globalEnv), fn.env)
			sort.Strings(wantNames)
			if got := keys(env); !slices.Equal(got, wantNames) {
				t.Errorf("Environment variables = %v; want %v", got, wantNames)
			}

			role, ok := lookup(r, "Properties", "Role", "Fn::GetAtt")
			if !ok || len(list(role)) != 2 || list(role)[1] != "Arn" {
				t.Fatalf("Role = %v; want !GetAtt <role>.Arn of the function's own role", role)
			}
			resource(t, tpl, list(role)[0].(string), "AWS::IAM::Role")

			group := str(t, r, "Properties", "LoggingConfig", "LogGroup", "Ref")
			lg := resource(t, tpl, group, "AWS::Logs::LogGroup")
			if _, ok := lookup(lg, "Properties", "RetentionInDays"); !ok {
				t.Errorf("log group %s has no RetentionInDays", group)
			}
		})
	}
	if got := at(t, tpl, "Resources", "IssueFunction", "Properties", "Timeout"); got.(int) >= 29 {
		t.Errorf("IssueFunction Timeout = %v; want below API Gateway's 29 s", got)
	}
	if got := str(t, functionEnv(t, tpl, "ActivityFunction")["FFB_ACTIVITY_LOG_GROUP"], "Fn::Sub"); got != "/aws/rds/cluster/${ClusterIdentifier}/postgresql" {
		t.Errorf("FFB_ACTIVITY_LOG_GROUP = %q; want the cluster's PostgreSQL log group", got)
	}
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestTemplateSchedules(t *testing.T) {
	tpl := loadTemplate(t)
	tests := []struct {
		function, event string
		schedule        any
	}{
		{"ExpireFunction", "Sweep", "rate(1 minute)"},
		{"ActivityFunction", "Scan", map[string]any{"Ref": "ActivitySchedule"}},
	}
	for _, tt := range tests {
		ev := obj(t, tpl, "Resources", tt.function, "Properties", "Events", tt.event)
		// Schedule (an EventBridge rule) sends the Scheduled Event shape the
		// functions recognise; ScheduleV2 (EventBridge Scheduler) does not.
		if got := str(t, ev, "Type"); got != "Schedule" {
			t.Errorf("%s event %s: Type = %q; want Schedule", tt.function, tt.event, got)
		}
		if got := at(t, ev, "Properties", "Schedule"); !reflect.DeepEqual(got, tt.schedule) {
			t.Errorf("%s event %s: Schedule = %v; want %v", tt.function, tt.event, got, tt.schedule)
		}
		if in, ok := lookup(ev, "Properties", "Input"); ok {
			t.Errorf("%s event %s: Input = %v; want none (the function reads the Scheduled Event itself)", tt.function, tt.event, in)
		}
	}
}

func TestTemplateAPI(t *testing.T) {
	tpl := loadTemplate(t)
	api := resource(t, tpl, "BrokerApi", "AWS::Serverless::Api")
	if got := str(t, api, "Properties", "Auth", "DefaultAuthorizer"); got != "AWS_IAM" {
		t.Errorf("BrokerApi Auth.DefaultAuthorizer = %q; want AWS_IAM", got)
	}
	// NONE: API Gateway invokes with its own permission, so the caller needs no
	// lambda:InvokeFunction and its identity still reaches the function.
	if got := str(t, api, "Properties", "Auth", "InvokeRole"); got != "NONE" {
		t.Errorf("BrokerApi Auth.InvokeRole = %q; want NONE", got)
	}
	got := templateRoutes(t, tpl)
	if !reflect.DeepEqual(got, apiRoutes) {
		t.Errorf("API events = %v; want %v", got, apiRoutes)
	}
}

// templateRoutes collects every Api event of every function: "METHOD /path" to the
// function's logical id. Each must belong to BrokerApi and appear once.
func templateRoutes(t *testing.T, tpl map[string]any) map[string]string {
	t.Helper()
	routes := map[string]string{}
	for id, r := range obj(t, tpl, "Resources") {
		events, ok := lookup(r, "Properties", "Events")
		if !ok {
			continue
		}
		for name, ev := range obj(t, events) {
			if str(t, ev, "Type") != "Api" {
				continue
			}
			if api := str(t, ev, "Properties", "RestApiId", "Ref"); api != "BrokerApi" {
				t.Errorf("%s event %s: RestApiId = %q; want BrokerApi", id, name, api)
			}
			route := strings.ToUpper(str(t, ev, "Properties", "Method")) + " " + str(t, ev, "Properties", "Path")
			if other, dup := routes[route]; dup {
				t.Errorf("route %s is served by %s and %s", route, other, id)
			}
			routes[route] = id
		}
	}
	return routes
}

// TestTemplateConnectionLimits: the functions that log in as one database user must
// not be able to open more connections together than that user's CONNECTION LIMIT in
// sql/001_roles.sql; each function instance holds at most one connection, so their
// reserved concurrency must add up to the limit at most. (Which functions connect as
// whom is TestTemplateDatabaseLogins.)
func TestTemplateConnectionLimits(t *testing.T) {
	sql := string(mustRead(t, repoFile(t, "sql/001_roles.sql")))
	tpl := loadTemplate(t)
	tests := []struct {
		sqlRole, user string
		required      bool // the SQL must declare the role
	}{
		{"broker_role", "${BrokerDbUser}", true},
		{"activity_role", "${ActivityDbUser}", false},
	}
	for _, tt := range tests {
		t.Run(tt.sqlRole, func(t *testing.T) {
			m := regexp.MustCompile(`CONNECTION LIMIT (\d+)[^\n]*:'` + tt.sqlRole + `'`).FindStringSubmatch(sql)
			if m == nil && tt.required {
				t.Fatalf("sql/001_roles.sql: no CONNECTION LIMIT for :'%s'", tt.sqlRole)
			}
			var users []string
			sum := 0
			for _, fn := range functions {
				role := list(at(t, tpl, "Resources", fn.id, "Properties", "Role", "Fn::GetAtt"))[0].(string)
				if !slices.Contains(dbUsers(t, tpl, role), tt.user) {
					continue
				}
				users = append(users, fn.id)
				n, ok := reservedConcurrency(t, tpl, fn.id)
				if !ok || n < 1 {
					t.Errorf("%s logs in as %s but ReservedConcurrentExecutions is %v; want a positive cap when ReserveConcurrency is true", fn.id, tt.user, n)
				}
				sum += n
			}
			if m == nil {
				t.Logf("sql/001_roles.sql declares no :'%s' yet; its connection limit is not checked", tt.sqlRole)
				return
			}
			if limit, _ := strconv.Atoi(m[1]); sum > limit {
				t.Errorf("reserved concurrency of %v adds up to %d; want at most %s's CONNECTION LIMIT %d", users, sum, tt.sqlRole, limit)
			}
		})
	}
}

// reservedConcurrency is a function's ReservedConcurrentExecutions when the stack
// reserves concurrency: `!If [ReservesConcurrency, N, !Ref AWS::NoValue]` (nothing is
// reserved by default, which low account quotas need) or a plain N.
func reservedConcurrency(t *testing.T, tpl map[string]any, id string) (int, bool) {
	t.Helper()
	v := at(t, tpl, "Resources", id, "Properties", "ReservedConcurrentExecutions")
	if n, ok := v.(int); ok {
		return n, true
	}
	branches, ok := lookup(v, "Fn::If")
	if !ok || len(list(branches)) != 3 || list(branches)[0] != "ReservesConcurrency" {
		return 0, false
	}
	if none, _ := lookup(list(branches)[2], "Ref"); none != "AWS::NoValue" {
		t.Errorf("%s: ReservedConcurrentExecutions %v; want no reservation unless ReserveConcurrency is true", id, v)
	}
	n, ok := list(branches)[1].(int)
	return n, ok
}

// dbUsers lists the database users (the part after the cluster resource id) a
// role may connect as with rds-db:connect.
func dbUsers(t *testing.T, tpl map[string]any, role string) []string {
	t.Helper()
	var users []string
	for _, st := range roleStatements(t, tpl, role) {
		if !slices.Contains(stringList(st["Action"]), "rds-db:connect") {
			continue
		}
		for _, r := range list(st["Resource"]) {
			arn := fmt.Sprint(r)
			if s, ok := lookup(r, "Fn::Sub"); ok {
				arn = fmt.Sprint(s)
			}
			prefix := "arn:${AWS::Partition}:rds-db:${AWS::Region}:${AWS::AccountId}:dbuser:${ClusterResourceId}/"
			user, ok := strings.CutPrefix(arn, prefix)
			if !ok {
				t.Errorf("role %s: rds-db:connect on %s; want %s<user>", role, arn, prefix)
			}
			users = append(users, user)
		}
	}
	return users
}

func TestTemplateDatabaseLogins(t *testing.T) {
	tpl := loadTemplate(t)
	want := map[string][]string{
		"IssueFunctionRole":    {"${BrokerDbUser}"},
		"ExpireFunctionRole":   {"${BrokerDbUser}"},
		"ApproveFunctionRole":  {"${ApproverDbUser}"}, // its own login: the approvals ledger only
		"ActivityFunctionRole": {"${ActivityDbUser}"},
		"StateMachineRole":     nil,
	}
	for role, users := range want {
		if got := dbUsers(t, tpl, role); !slices.Equal(got, users) {
			t.Errorf("role %s may connect as %v; want %v", role, got, users)
		}
	}
}

// Each function connects as its own login only, and nothing else in the template may
// connect at all: with one statement for dbuser:* a function's role would hold both
// sides of the two-person rule (the broker's and the approver's logins).
func TestTemplateEachFunctionConnectsAsItsOwnLogin(t *testing.T) {
	tpl := loadTemplate(t)
	own := map[string]string{
		"IssueFunctionRole/issue":       "${BrokerDbUser}",
		"ExpireFunctionRole/expire":     "${BrokerDbUser}",
		"ApproveFunctionRole/approve":   "${ApproverDbUser}",
		"ActivityFunctionRole/activity": "${ActivityDbUser}",
	}
	const prefix = "arn:${AWS::Partition}:rds-db:${AWS::Region}:${AWS::AccountId}:dbuser:${ClusterResourceId}/"
	seen := map[string]bool{}
	for where, doc := range policyDocuments(t, tpl) {
		for _, raw := range list(doc["Statement"]) {
			st := obj(t, raw)
			connects := false
			for _, a := range stringList(st["Action"]) {
				a = strings.ToLower(a)
				connects = connects || a == "*" || strings.HasPrefix(a, "rds-db:") || strings.HasPrefix(a, "rds-db*")
			}
			if !connects {
				continue
			}
			want, ok := own[where]
			if !ok {
				t.Errorf("%s statement %v grants %v: only the four functions' roles may connect to the database", where, st["Sid"], st["Action"])
				continue
			}
			if got := stringList(st["Action"]); !slices.Equal(got, []string{"rds-db:connect"}) {
				t.Errorf("%s statement %v: actions %v; want rds-db:connect only", where, st["Sid"], got)
			}
			res := list(st["Resource"])
			if len(res) != 1 {
				t.Errorf("%s statement %v: %d resources; want its own login only", where, st["Sid"], len(res))
				continue
			}
			arn, _ := lookup(res[0], "Fn::Sub")
			if got := fmt.Sprint(arn); got != prefix+want {
				t.Errorf("%s statement %v: rds-db:connect on %s; want %s%s (its own login)", where, st["Sid"], got, prefix, want)
			}
			seen[where] = true
		}
	}
	for where := range own {
		if !seen[where] {
			t.Errorf("%s has no rds-db:connect for its own login", where)
		}
	}
	// Three distinct logins: the same user for two parameters would join two sides.
	defaults := map[string]string{}
	for _, p := range []string{"BrokerDbUser", "ApproverDbUser", "ActivityDbUser"} {
		d := str(t, tpl, "Parameters", p, "Default")
		for q, e := range defaults {
			if e == d {
				t.Errorf("parameters %s and %s default to the same login %s", p, q, d)
			}
		}
		defaults[p] = d
	}
}

// starResourceActions are the only actions allowed on Resource "*": AWS offers no
// narrower resource for them.
var starResourceActions = map[string]string{
	"ec2:CreateNetworkInterface":     "Lambda VPC attachment",
	"ec2:DescribeNetworkInterfaces":  "Lambda VPC attachment",
	"ec2:DescribeSubnets":            "Lambda VPC attachment",
	"ec2:DeleteNetworkInterface":     "Lambda VPC attachment",
	"ec2:AssignPrivateIpAddresses":   "Lambda VPC attachment",
	"ec2:UnassignPrivateIpAddresses": "Lambda VPC attachment",
	"states:SendTaskSuccess":         "no resource-level permission; the task token is the capability",
	"states:SendTaskFailure":         "no resource-level permission; the task token is the capability",
	"logs:CreateLogDelivery":         "Step Functions vended logs",
	"logs:GetLogDelivery":            "Step Functions vended logs",
	"logs:UpdateLogDelivery":         "Step Functions vended logs",
	"logs:DeleteLogDelivery":         "Step Functions vended logs",
	"logs:ListLogDeliveries":         "Step Functions vended logs",
	"logs:PutResourcePolicy":         "Step Functions vended logs",
	"logs:DescribeResourcePolicies":  "Step Functions vended logs",
	"logs:DescribeLogGroups":         "Step Functions vended logs",
}

// policyDocuments returns every IAM policy document in the template, named by
// where it is.
func policyDocuments(t *testing.T, tpl map[string]any) map[string]map[string]any {
	t.Helper()
	docs := map[string]map[string]any{}
	for id, r := range obj(t, tpl, "Resources") {
		props, _ := lookup(r, "Properties")
		switch typ := str(t, r, "Type"); typ {
		case "AWS::IAM::Role":
			if ps, ok := lookup(props, "Policies"); ok {
				for _, p := range list(ps) {
					docs[id+"/"+str(t, p, "PolicyName")] = obj(t, p, "PolicyDocument")
				}
			}
			arns, _ := lookup(props, "ManagedPolicyArns")
			for _, arn := range list(arns) {
				if arn == nil {
					continue
				}
				ref, ok := lookup(arn, "Ref")
				if !ok {
					t.Errorf("%s: managed policy %v; want only the template's own (!Ref)", id, arn)
					continue
				}
				resource(t, tpl, ref.(string), "AWS::IAM::ManagedPolicy")
			}
		case "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy":
			docs[id] = obj(t, props, "PolicyDocument")
		case "AWS::Serverless::Function", "AWS::Serverless::StateMachine":
			// SAM policy templates and connectors expand to statements this test
			// cannot see; every function and the workflow use an explicit role.
			if p, ok := lookup(props, "Policies"); ok {
				t.Errorf("%s has SAM Policies %v; want an explicit Role", id, p)
			}
			if _, ok := lookup(props, "Role"); !ok {
				t.Errorf("%s has no explicit Role; SAM would generate one with managed policies", id)
			}
		}
	}
	if len(docs) == 0 {
		t.Fatal("the template has no IAM policy documents")
	}
	return docs
}

// roleStatements is every statement that applies to a role: its inline policies and
// its managed policies from the template.
func roleStatements(t *testing.T, tpl map[string]any, role string) []map[string]any {
	t.Helper()
	props := obj(t, resource(t, tpl, role, "AWS::IAM::Role"), "Properties")
	var docs []map[string]any
	if ps, ok := lookup(props, "Policies"); ok {
		for _, p := range list(ps) {
			docs = append(docs, obj(t, p, "PolicyDocument"))
		}
	}
	if arns, ok := lookup(props, "ManagedPolicyArns"); ok {
		for _, arn := range list(arns) {
			if ref, ok := lookup(arn, "Ref"); ok {
				docs = append(docs, obj(t, tpl, "Resources", ref.(string), "Properties", "PolicyDocument"))
			}
		}
	}
	var sts []map[string]any
	for _, d := range docs {
		for _, st := range list(d["Statement"]) {
			sts = append(sts, obj(t, st))
		}
	}
	return sts
}

// stringList is an IAM Action or Resource value as strings; intrinsics are
// printed.
func stringList(v any) []string {
	var out []string
	for _, x := range list(v) {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

func TestTemplateIAMLeastPrivilege(t *testing.T) {
	tpl := loadTemplate(t)
	for where, doc := range policyDocuments(t, tpl) {
		for i, raw := range list(doc["Statement"]) {
			st := obj(t, raw)
			name := fmt.Sprintf("%s statement %d (%v)", where, i, st["Sid"])
			for _, k := range []string{"NotAction", "NotResource", "NotPrincipal"} {
				if _, ok := st[k]; ok {
					t.Errorf("%s uses %s; want explicit Action and Resource", name, k)
				}
			}
			if st["Effect"] != "Allow" {
				continue
			}
			actions := stringList(st["Action"])
			for _, a := range actions {
				if strings.Contains(a, "*") {
					t.Errorf("%s: Action %q has a wildcard; want explicit actions", name, a)
				}
			}
			for _, r := range list(st["Resource"]) {
				if r == "*" {
					for _, a := range actions {
						if _, ok := starResourceActions[a]; !ok {
							t.Errorf("%s: %s on Resource \"*\"; want a resource ARN (only %v may use \"*\")", name, a, keys(starResourceActions))
						}
					}
					continue
				}
				checkARN(t, name, r)
			}
		}
	}
}

// checkARN requires a resource to be an intrinsic (!GetAtt, !Ref) or a !Sub ARN in
// this stack's partition, region and account.
func checkARN(t *testing.T, where string, r any) {
	t.Helper()
	if _, ok := lookup(r, "Fn::GetAtt"); ok {
		return
	}
	if _, ok := lookup(r, "Ref"); ok {
		return
	}
	s, ok := lookup(r, "Fn::Sub")
	arn, isString := s.(string)
	if !ok || !isString {
		t.Errorf("%s: Resource %v; want !GetAtt, !Ref or a !Sub ARN", where, r)
		return
	}
	// Pseudo parameters hold colons of their own: ${AWS::Region} is ${AWS__Region} here.
	parts := strings.SplitN(strings.ReplaceAll(arn, "${AWS::", "${AWS__"), ":", 6)
	if len(parts) < 6 || parts[0] != "arn" || parts[1] != "${AWS__Partition}" || parts[3] != "${AWS__Region}" || parts[4] != "${AWS__AccountId}" {
		t.Errorf("%s: Resource %q; want arn:${AWS::Partition}:<service>:${AWS::Region}:${AWS::AccountId}:...", where, arn)
	}
	// A route with a path parameter ends in /* (execute-api matches the parameter's value).
	pathParam := parts[2] == "execute-api" && strings.HasSuffix(parts[5], "/*") && !strings.Contains(strings.TrimSuffix(parts[5], "/*"), "*")
	if strings.Contains(parts[5], "*") && !strings.HasSuffix(parts[5], ":*") && !pathParam {
		t.Errorf("%s: Resource %q has a wildcard inside the resource name", where, arn)
	}
}

// TestTemplateStateMachineName: the functions cannot !Ref the state machine (it
// invokes them, a cycle), so they build its ARN from its name; all must agree.
func TestTemplateStateMachineName(t *testing.T) {
	tpl := loadTemplate(t)
	sm := resource(t, tpl, "ApprovalStateMachine", "AWS::Serverless::StateMachine")
	name := str(t, sm, "Properties", "Name", "Fn::Sub")
	arn := "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:" + name
	for _, id := range []string{"IssueFunction", "ApproveFunction"} {
		if got := str(t, functionEnv(t, tpl, id)["FFB_STATE_MACHINE_ARN"], "Fn::Sub"); got != arn {
			t.Errorf("%s FFB_STATE_MACHINE_ARN = %q; want %q", id, got, arn)
		}
	}
	want := map[string][]string{
		"IssueFunctionRole":   {"states:StartExecution " + arn, "states:SendTaskSuccess *", "states:SendTaskFailure *"},
		"ApproveFunctionRole": {"states:SendTaskSuccess *", "states:SendTaskFailure *"},
	}
	for role, grants := range want {
		var got []string
		for _, st := range roleStatements(t, tpl, role) {
			for _, a := range stringList(st["Action"]) {
				if !strings.HasPrefix(a, "states:") {
					continue
				}
				for _, r := range list(st["Resource"]) {
					res := fmt.Sprint(r)
					if s, ok := lookup(r, "Fn::Sub"); ok {
						res = fmt.Sprint(s)
					}
					got = append(got, a+" "+res)
				}
			}
		}
		sort.Strings(got)
		sort.Strings(grants)
		if !slices.Equal(got, grants) {
			t.Errorf("role %s Step Functions grants = %v; want %v", role, got, grants)
		}
	}
}

// TestTemplateDeploysOnANewAccount: what made a first deployment fail or leak is gone.
func TestTemplateDeploysOnANewAccount(t *testing.T) {
	tpl := loadTemplate(t)
	t.Run("no reserved concurrency by default", func(t *testing.T) {
		if got := at(t, tpl, "Parameters", "ReserveConcurrency", "Default"); got != "false" {
			t.Errorf("ReserveConcurrency default = %v; want false (low concurrency quotas)", got)
		}
	})
	t.Run("audit log group: generated name, retained", func(t *testing.T) {
		r := resource(t, tpl, "AuditLogGroup", "AWS::Logs::LogGroup")
		if _, fixed := lookup(r, "Properties", "LogGroupName"); fixed {
			t.Error("AuditLogGroup has a LogGroupName; a retained group with a fixed name collides on redeploy")
		}
		if r["DeletionPolicy"] != "Retain" {
			t.Errorf("AuditLogGroup DeletionPolicy = %v; want Retain", r["DeletionPolicy"])
		}
	})
	t.Run("every log group has a deletion policy", func(t *testing.T) {
		for id, r := range obj(t, tpl, "Resources") {
			if str(t, r, "Type") == "AWS::Logs::LogGroup" && (obj(t, r)["DeletionPolicy"] == nil || obj(t, r)["UpdateReplacePolicy"] == nil) {
				t.Errorf("%s has no DeletionPolicy and UpdateReplacePolicy (cfn-lint I3011)", id)
			}
		}
	})
	t.Run("resource ids of clusters and proxies", func(t *testing.T) {
		re := regexp.MustCompile(str(t, obj(t, tpl, "Parameters", "ClusterResourceId"), "AllowedPattern"))
		for id, want := range map[string]bool{"cluster-ABCDEFGHIJKLMNOPQRSTUV0123": true, "prx-0123456789abcdef0": true, "db-ABC": false, "prx-": false} {
			if re.MatchString(id) != want {
				t.Errorf("ClusterResourceId pattern on %q = %v; want %v", id, !want, want)
			}
		}
	})
	t.Run("state machine logs without execution data", func(t *testing.T) {
		if got := at(t, tpl, "Resources", "ApprovalStateMachine", "Properties", "Logging", "IncludeExecutionData"); got != false {
			t.Errorf("IncludeExecutionData = %v; want false (inputs carry task tokens)", got)
		}
	})
	t.Run("the API has an access log", func(t *testing.T) {
		dest := at(t, tpl, "Resources", "BrokerApi", "Properties", "AccessLogSetting", "DestinationArn")
		if got := list(at(t, dest, "Fn::GetAtt"))[0]; got != "ApiAccessLogGroup" {
			t.Errorf("AccessLogSetting.DestinationArn = %v; want the ApiAccessLogGroup", dest)
		}
		if f := str(t, obj(t, tpl, "Resources", "BrokerApi", "Properties", "AccessLogSetting"), "Format"); !strings.Contains(f, "$context.identity.userArn") {
			t.Errorf("access log format %q; want the caller", f)
		}
	})
	t.Run("the prefixes are outputs", func(t *testing.T) { // ffbroker configure --stack reads them
		for _, out := range []string{"RolePrefix", "SecretPrefix"} {
			if got := at(t, tpl, "Outputs", out, "Value", "Ref"); got != out {
				t.Errorf("output %s = %v; want !Ref %s (the parameter)", out, got, out)
			}
		}
	})
	t.Run("policies for people are outputs", func(t *testing.T) {
		for out, policy := range map[string]string{"OnCallPolicyArn": "OnCallPolicy", "ApproverPolicyArn": "ApproverPolicy"} {
			if got := at(t, tpl, "Outputs", out, "Value", "Ref"); got != policy {
				t.Errorf("output %s = %v; want !Ref %s", out, got, policy)
			}
			resource(t, tpl, policy, "AWS::IAM::ManagedPolicy")
		}
		var invoke []string
		for _, st := range list(at(t, tpl, "Resources", "ApproverPolicy", "Properties", "PolicyDocument", "Statement")) {
			if slices.Contains(stringList(obj(t, st)["Action"]), "execute-api:Invoke") {
				for _, r := range list(obj(t, st)["Resource"]) {
					invoke = append(invoke, fmt.Sprint(at(t, r, "Fn::Sub")))
				}
			}
		}
		if !slices.ContainsFunc(invoke, func(s string) bool { return strings.HasSuffix(s, "/prod/POST/approvals/*") }) ||
			slices.ContainsFunc(invoke, func(s string) bool { return strings.Contains(s, "/POST/access") }) {
			t.Errorf("ApproverPolicy invokes %v; want POST /approvals/{request_id} and not POST /access", invoke)
		}
	})
}
