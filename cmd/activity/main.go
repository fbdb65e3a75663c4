package main

import "github.com/ffbroker/ffbroker/cmd/internal/lambdafn"

func main() {
	lambdafn.Start(lambdafn.FunctionActivity, func(d *lambdafn.Deps) lambdafn.Handler { return lambdafn.NewActivityHandler(d).Handle })
}
