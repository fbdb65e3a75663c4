// Reads one JSON array of simulations on stdin, runs each with
// @cloud-copilot/iam-simulate and writes one JSON array of answers on stdout:
// {"result": "Allowed"|"ExplicitlyDenied"|"ImplicitlyDenied"} or {"error": ...}.
// NODE_PATH (or the module resolution from this file) must reach the package.
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import path from 'node:path'

const dir = process.env.FFB_IAMSIM_MODULES
const req = createRequire(dir ? path.join(dir, 'noop.js') : import.meta.url)
const { runSimulation } = await import(pathToFileURL(req.resolve('@cloud-copilot/iam-simulate')).href)

let input = ''
for await (const chunk of process.stdin) input += chunk
const out = []
for (const sim of JSON.parse(input)) {
  const r = await runSimulation(sim, {})
  if (r.resultType === 'error') {
    out.push({ error: JSON.stringify(r.errors) })
  } else {
    out.push({ result: r.overallResult })
  }
}
process.stdout.write(JSON.stringify(out))
