// Package rds finds the instances of an Aurora cluster through the RDS API
// (DescribeDBClusters for the members, DescribeDBInstances for each member's own
// endpoint), so that the broker ends a firefighter role's sessions on the readers
// as well as on the writer. Static is the same for a fixed list (FFB_DB_INSTANCES
// for clusters outside RDS).
//
// # Permissions
//
// rds:DescribeDBClusters on the cluster's ARN and rds:DescribeDBInstances on the
// account's DB instance ARNs in the region (members come and go), nothing else.
package rds
