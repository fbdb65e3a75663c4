// Command activity is ffbroker's activity Lambda function; see package lambdafn.
package main
