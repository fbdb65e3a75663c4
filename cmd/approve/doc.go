// Command approve is ffbroker's approve Lambda function; see package lambdafn.
package main
