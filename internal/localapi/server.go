package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Options configure a local API.
type Options struct {
	// Template is the path of the SAM template (template.yaml).
	Template string
	// Functions build the template's functions by kind ("issue", "expire",
	// "approve"): every function that owns a route or a workflow task must be here.
	Functions map[string]Function
	// StackName stands for the stack's name (AWS::StackName); default "ffbroker-local".
	StackName string
	// Parameters override the template parameters' defaults (e.g. ApprovalTimeoutSeconds).
	Parameters map[string]string
	// Getenv is the environment the functions are built from (Function.Build),
	// with what local-api created overlaid; required.
	Getenv func(string) string
	// Env is local-api's own configuration, read from the same environment.
	Env Env
	// AWS is the SDK configuration of the functions; nil loads the default one
	// (AWS_ENDPOINT_URL, AWS_REGION, credentials).
	AWS *aws.Config
	// Log receives what local-api created and its own warnings; nil is os.Stderr.
	Log io.Writer
	// Audit receives the functions' audit records (as Lambda's stdout would); nil is Log.
	Audit io.Writer
	// PollInterval is how often the runner looks at the executions; default 200ms.
	PollInterval time.Duration
}

// Env is what local-api reads of the environment itself (the caller reads it).
type Env struct {
	// ServerID and Accounts are FFB_SERVER_ID and FFB_ACCOUNTS; empty ones become
	// the stack name and moto's account.
	ServerID, Accounts string
	// StateMachineARN, NotifyTopicARN and AuditLogGroup name resources that exist
	// (FFB_STATE_MACHINE_ARN, FFB_NOTIFY_TOPIC_ARN, FFB_AUDIT_LOG_GROUP); empty ones
	// are created in moto.
	StateMachineARN, NotifyTopicARN, AuditLogGroup string
	// EndpointURL is the AWS SDK's AWS_ENDPOINT_URL.
	EndpointURL string
}

// Server is a running local API: the template's routes served by the functions'
// handlers, and the runner of the approval workflow's Lambda tasks.
type Server struct {
	tmpl      *Template
	serverID  string
	account   string
	functions map[string]*function
	runner    *runner
	log       *slog.Logger
	closeOnce sync.Once
}

// New reads the template, creates in moto what the stack would have where it is
// missing (the audit log group, the approvals topic, the Lambda functions the
// workflow names, the approval state machine with its Lambda tasks rewritten for
// local-api), and builds each function's dependencies as its Lambda does.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.Getenv == nil {
		return nil, errors.New("local-api: Options.Getenv is required (the functions' environment)")
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if o.Audit == nil {
		o.Audit = o.Log
	}
	if o.StackName == "" {
		o.StackName = "ffbroker-local"
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 200 * time.Millisecond
	}
	tmpl, err := LoadTemplate(o.Template)
	if err != nil {
		return nil, err
	}
	var awsCfg aws.Config
	if o.AWS != nil {
		awsCfg = o.AWS.Copy()
	} else if awsCfg, err = config.LoadDefaultConfig(ctx); err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	id, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, fmt.Errorf("who runs local-api (sts get-caller-identity against AWS_ENDPOINT_URL): %w", err)
	}
	s := &Server{tmpl: tmpl, account: aws.ToString(id.Account), functions: map[string]*function{},
		log: slog.New(slog.NewJSONHandler(o.Log, nil))}
	st := &setup{ctx: ctx, aws: awsCfg, tmpl: tmpl, env: o.Env, out: o.Log, params: o.Parameters,
		p: pseudo{StackName: o.StackName, Region: awsCfg.Region, Account: s.account}}
	res, err := st.run()
	if err != nil {
		return nil, err
	}
	s.serverID = res.overlay["FFB_SERVER_ID"]
	if s.serverID == "" {
		s.serverID = o.Env.ServerID
	}
	acc := newAccounts(res.stateMachine, res.plan.Definition, res.roleARN, sfn.NewFromConfig(awsCfg))
	fnCfg := awsCfg.Copy()
	fnCfg.APIOptions = append(fnCfg.APIOptions, acc.Middleware)
	kinds := map[string]bool{}
	for _, r := range tmpl.Routes {
		kinds[r.Function] = true
	}
	for _, kind := range res.workflowFunctions {
		kinds[kind] = true
	}
	for kind := range kinds {
		build, ok := o.Functions[kind]
		if !ok || build.Build == nil {
			s.Close()
			return nil, fmt.Errorf("the template's %s function owns API routes or workflow tasks, but local-api cannot build it", kind)
		}
		h, closeFn, err := build.Build(overlayEnv(o.Getenv, res.overlay), fnCfg, o.Audit)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%s function: %w", kind, err)
		}
		s.functions[kind] = &function{kind: kind, arn: res.functionARNs[kind], handler: h, close: closeFn}
	}
	s.runner = &runner{sfn: sfn.NewFromConfig(fnCfg), accounts: acc, plan: res.plan, functions: map[string]*function{},
		interval: o.PollInterval, log: s.log, done: map[string]bool{}}
	for arn, kind := range res.workflowFunctions {
		s.runner.functions[arn] = s.functions[kind]
	}
	return s, nil
}

// ServerID is the deployment id the functions check identity proofs against
// (FFB_SERVER_ID); clients bind their proofs to it.
func (s *Server) ServerID() string { return s.serverID }

// Routes are the routes served, from the template.
func (s *Server) Routes() []Route { return append([]Route(nil), s.tmpl.Routes...) }

// ServeHTTP answers one API call: the stage prefix removed, the route matched, the
// event built as API Gateway's REST proxy integration does and handed to the owning
// function's handler, whose status, headers and body are the answer.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := stripStage(r.URL.EscapedPath())
	rt, params, ok := match(s.tmpl.Routes, r.Method, path)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such route: "+r.Method+" "+path)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "request body is too large")
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "invalid_request", "the request body could not be read")
		return
	}
	ev := proxyEvent(r, rt, path, params, body, s.account, time.Now())
	out, fail := s.functions[rt.Function].invoke(r.Context(), mustJSON(ev))
	var resp events.APIGatewayProxyResponse
	if fail != nil || json.Unmarshal(out, &resp) != nil {
		// API Gateway answers a failed integration with 502.
		writeError(w, http.StatusBadGateway, "internal", "internal error")
		return
	}
	writeResponse(w, resp)
}

// Serve answers API calls on l and runs the workflow's Lambda tasks until ctx ends,
// then stops both and returns; the functions' connections are closed.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.runner.run(ctx)
	}()
	served := make(chan error, 1)
	go func() {
		defer wg.Done()
		served <- hs.Serve(l)
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		served <- err
	}
	cancel()
	shutdown, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	_ = hs.Shutdown(shutdown)
	wg.Wait()
	if err = <-served; errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	s.Close()
	return err
}

// Close closes the functions' database connections.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		kinds := make([]string, 0, len(s.functions))
		for k := range s.functions {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			if f := s.functions[k]; f.close != nil {
				f.close()
			}
		}
	})
}
