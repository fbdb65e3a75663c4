// Command approve is ffbroker's approve Lambda function; see package lambdafn.
package main

import "github.com/ffbroker/ffbroker/cmd/internal/lambdafn"

func main() {
	lambdafn.Start(lambdafn.FunctionApprove, func(d *lambdafn.Deps) lambdafn.Handler { return lambdafn.NewApproveHandler(d).Handle })
}
