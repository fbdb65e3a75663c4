package main

import "github.com/ffbroker/ffbroker/cmd/internal/lambdafn"

func main() {
	lambdafn.Start(lambdafn.FunctionIssue, func(d *lambdafn.Deps) lambdafn.Handler { return lambdafn.NewIssueHandler(d).Handle })
}
