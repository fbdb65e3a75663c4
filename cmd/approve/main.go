package main

import "github.com/ffbroker/ffbroker/cmd/internal/lambdafn"

func main() {
	lambdafn.Start(lambdafn.FunctionApprove, func(d *lambdafn.Deps) lambdafn.Handler { return lambdafn.NewApproveHandler(d).Handle })
}
