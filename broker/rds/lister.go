package rds

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsrds "github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/smithy-go"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/awsretry"
	"github.com/ffbroker/ffbroker/broker/postgres"
)

// API is the part of the RDS API that Lister calls (*rds.Client is one).
type API interface {
	DescribeDBClusters(ctx context.Context, in *awsrds.DescribeDBClustersInput, opts ...func(*awsrds.Options)) (*awsrds.DescribeDBClustersOutput, error)
	DescribeDBInstances(ctx context.Context, in *awsrds.DescribeDBInstancesInput, opts ...func(*awsrds.Options)) (*awsrds.DescribeDBInstancesOutput, error)
}

// Lister lists the instances of one cluster, asking the RDS API at every call: a
// reader added since the last call is found by the next one.
type Lister struct {
	api     API
	cluster string
}

var _ postgres.InstanceLister = (*Lister)(nil)

// New returns a Lister of the cluster with identifier cluster (its name, not its
// resource id).
func New(api API, cluster string) *Lister { return &Lister{api: api, cluster: cluster} }

// idle are the instance states with no session to end and no endpoint to reach.
var idle = map[string]bool{"creating": true, "deleting": true, "stopped": true, "stopping": true}

// Instances returns every member of the cluster (writer and readers) that can hold
// sessions, with its own endpoint. A member without an endpoint yet, or being
// created, deleted or stopped, holds none and is left out.
func (l *Lister) Instances(ctx context.Context) ([]broker.Instance, error) {
	out, err := l.api.DescribeDBClusters(ctx, &awsrds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(l.cluster)})
	if err != nil {
		return nil, rdsError("DescribeDBClusters", l.cluster, err)
	}
	if len(out.DBClusters) != 1 {
		return nil, &broker.Error{Code: broker.CodeInternal, Op: "list instances",
			Message: fmt.Sprintf("DescribeDBClusters %s returned %d clusters", l.cluster, len(out.DBClusters))}
	}
	var insts []broker.Instance
	for _, m := range out.DBClusters[0].DBClusterMembers {
		id := aws.ToString(m.DBInstanceIdentifier)
		d, err := l.api.DescribeDBInstances(ctx, &awsrds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
		if err != nil {
			return nil, rdsError("DescribeDBInstances", id, err)
		}
		for _, db := range d.DBInstances {
			if db.Endpoint == nil || aws.ToString(db.Endpoint.Address) == "" || idle[aws.ToString(db.DBInstanceStatus)] {
				continue
			}
			insts = append(insts, broker.Instance{ID: id, Host: aws.ToString(db.Endpoint.Address), Port: int(aws.ToInt32(db.Endpoint.Port))})
		}
	}
	return insts, nil
}

// rdsError is an RDS API failure as a *broker.Error: aws_access_denied when the
// function's role may not describe, unavailable when a retry may succeed, internal
// otherwise.
func rdsError(call, name string, err error) *broker.Error {
	code, cat, msg := broker.CodeInternal, broker.Category(""), "the RDS API request failed"
	var ae smithy.APIError
	var status interface{ HTTPStatusCode() int }
	switch {
	case awsretry.Transient(err):
		code, msg = broker.CodeUnavailable, "the RDS API is unavailable, retry later"
	case errors.As(err, &status) && status.HTTPStatusCode() == 403,
		errors.As(err, &ae) && (ae.ErrorCode() == "AccessDenied" || ae.ErrorCode() == "AccessDeniedException"):
		code, cat = broker.CodeAWSAccessDenied, broker.CategoryIAMPolicy
		msg = "the RDS API refused the function's IAM role: check rds:DescribeDBClusters on the cluster and rds:DescribeDBInstances"
	}
	return &broker.Error{Code: code, Category: cat, Op: "list instances", Message: msg, Err: fmt.Errorf("%s %s: %w", call, name, err)}
}

// Static is a fixed list of instances, for a cluster outside RDS.
type Static []broker.Instance

var _ postgres.InstanceLister = Static(nil)

// Instances returns the list.
func (s Static) Instances(context.Context) ([]broker.Instance, error) { return s, nil }

// FromSetting is the lister a setting names (FFB_DB_INSTANCES): "rds" lists cluster
// through api, a list of host[:port] is Static, and "" is nil: one instance.
func FromSetting(setting, cluster string, defaultPort int, api API) (postgres.InstanceLister, error) {
	switch setting = strings.TrimSpace(setting); {
	case setting == "":
		return nil, nil
	case setting == "rds" && cluster == "":
		return nil, errors.New("rds needs FFB_CLUSTER_ID, the cluster whose instances the RDS API lists")
	case setting == "rds":
		return New(api, cluster), nil
	}
	s, err := ParseStatic(setting, defaultPort)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// ParseStatic reads a comma-separated list of host[:port] endpoints (defaultPort
// when a port is left out), each its own instance.
func ParseStatic(list string, defaultPort int) (Static, error) {
	var s Static
	for _, ep := range strings.Split(list, ",") {
		ep = strings.TrimSpace(ep)
		host, port := ep, defaultPort
		if h, p, err := net.SplitHostPort(ep); err == nil {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("%q: the port must be 1-65535", ep)
			}
			host, port = h, n
		}
		if host == "" || strings.ContainsAny(host, "/ \t'\\") {
			return nil, fmt.Errorf("%q is not host[:port]", ep)
		}
		s = append(s, broker.Instance{ID: host, Host: host, Port: port})
	}
	return s, nil
}
