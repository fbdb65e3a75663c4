package main

import "github.com/ffbroker/ffbroker/cmd/internal/lambdafn"

func main() {
	lambdafn.Start(lambdafn.FunctionExpire, func(d *lambdafn.Deps) lambdafn.Handler { return lambdafn.NewExpireHandler(d).Handle })
}
