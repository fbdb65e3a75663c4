// Command floor is the smallest aws-lambda-go function: the baseline the bootstrap
// binaries' cold start is compared with.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) { return raw, nil })
}
