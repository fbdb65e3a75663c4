// Command expire is ffbroker's expire Lambda function; see package lambdafn.
package main
