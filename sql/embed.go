package sqlscripts

import (
	"embed"
	"io/fs"
)

//go:embed *.sql README.md
var scripts embed.FS

// Scripts returns the psql scripts of this directory (bootstrap.sql, the numbered files
// it includes with \ir, and README.md), for running bootstrap.sql through psql from a
// copy in a temporary directory.
func Scripts() fs.FS { return scripts }
