// `npm run bench [-- --quick] [--sizes 50,200] [--rounds N[,N...]] [--only fanout,status,ingest,agent,dashboard,cache,wan] [--methods fleet,ansible,pssh] [--no-write]`
// Builds the suite (TypeScript, beside src/) with esbuild and runs it: fan-out against
// ansible-playbook and parallel-ssh on real OpenSSH loopback hosts (root: it creates
// accounts and sshd servers; installs ansible-core and pssh from Debian when missing),
// `fleet status`, store ingest, fleet's memory and the agent's per-step overhead.
// Prints one table; the full mode also writes it to BENCHMARKS.md.
import {readFileSync} from 'node:fs'
import {build} from 'esbuild'

const pkg = JSON.parse(readFileSync('package.json', 'utf8'))
await build({
  entryPoints: ['bench/suite.ts'],
  outfile: 'dist/bench/suite.mjs',
  bundle: true,
  packages: 'external',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  define: {__FLEET_VERSION__: JSON.stringify(pkg.version)},
  logLevel: 'warning',
})
const {main} = await import('../dist/bench/suite.mjs')
await main(process.argv.slice(2))
