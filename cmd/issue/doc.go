// Command issue is ffbroker's issue Lambda function; see package lambdafn.
package main
