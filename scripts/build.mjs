// Builds dist/: the agent as one self-contained folder (agent.mjs and its chunks; it
// runs with plain node 18+ on a host with no node_modules), the fleet CLI for this machine,
// and the test bed that `fleet demo` loads (dist/testbed).
import {build} from 'esbuild'
import {cpSync, mkdirSync, readFileSync, writeFileSync, rmSync} from 'node:fs'

const pkg = JSON.parse(readFileSync('package.json', 'utf8'))
const define = {__FLEET_VERSION__: JSON.stringify(pkg.version)}
// Bundled CommonJS dependencies call require(); give the ESM bundle one.
const banner = {js: "import {createRequire as __fleetRequire} from 'node:module'; const require = __fleetRequire(import.meta.url);"}

// zod bundles the error messages of ~50 languages (a quarter of the agent's size, parsed
// and compiled at every start of the agent on every host); fleet only uses English.
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({filter: /\/locales\/index\.js$/}, (args) => (/[\\/]zod[\\/]/.test(args.importer) ? {path: new URL('../locales/en.js', `file://${args.importer}`).pathname, namespace: 'zod-locales'} : undefined))
    b.onLoad({filter: /.*/, namespace: 'zod-locales'}, (args) => ({contents: `export {default as en} from ${JSON.stringify(args.path)}`, resolveDir: '/'}))
  },
}

// On a host the playbook's libraries (LiquidJS, yaml, the zod schemas) are chunks loaded
// only when a playbook needs them (src/playbook/engines.ts): the module that loads them
// all at once elsewhere is empty in the agent.
const lazyEngines = {
  name: 'lazy-engines',
  setup(b) {
    b.onLoad({filter: /[\\/]src[\\/]playbook[\\/]engines-eager\.ts$/}, () => ({contents: 'export const eager = {}', loader: 'ts'}))
  },
}

// What every build below shares: one ES module (.mjs) per entry, bundled for Node.
const esm = {outExtension: {'.js': '.mjs'}, bundle: true, platform: 'node', format: 'esm', logLevel: 'warning'}
// Chunks: each command loads only what it needs (oclif, the playbook's YAML, templating and
// schema stay unread when following a journal or starting a run; `fleet status` loads its own).
const chunks = {splitting: true, chunkNames: 'chunk-[hash]'}

rmSync('dist/agent', {recursive: true, force: true})
mkdirSync('dist/agent', {recursive: true})
const agentBuild = await build({
  ...esm,
  ...chunks,
  entryPoints: {agent: 'src/cli/agent-main.ts'},
  outdir: 'dist/agent',
  target: 'node18',
  minify: true,
  legalComments: 'none',
  // oclif only loads typescript in development mode, which the agent never uses.
  external: ['typescript'],
  plugins: [zodEnglishOnly, lazyEngines],
  define,
  banner,
  metafile: true,
})
writeFileSync(
  'dist/agent/package.json',
  JSON.stringify(
    {
      name: 'fleet-agent',
      version: pkg.version,
      type: 'module',
      oclif: {bin: 'agent', commands: {strategy: 'explicit', target: './agent.mjs', identifier: 'COMMANDS'}, topicSeparator: ' '},
    },
    null,
    2,
  ),
)

// What fleet ships to a host (dist/agent/host-files.json, read by src/orchestrator/bundle.ts):
// the files reachable from agent.mjs without the chunks of oclif (help, bad flags, `redact`),
// the YAML reader and the playbook schemas. A host runs the playbook fleet's dry run compiled,
// with JSON vars, through the fast path: those chunks are three quarters of the agent's bytes
// and never load there. The agent answers their absence with one sentence (agent-main.ts, engines.ts).
const NOT_SHIPPED = ['src/cli/agent-oclif.ts', 'node_modules/yaml/dist/index.js', 'src/playbook/schema.ts']
const outputs = Object.fromEntries(Object.entries(agentBuild.metafile.outputs).map(([out, o]) => [out.replace(/^dist\/agent\//, ''), o]))
for (const e of NOT_SHIPPED) if (!Object.values(outputs).some((o) => o.entryPoint === e)) throw new Error(`build: ${e} is no chunk of its own in the agent's build; fix NOT_SHIPPED`)
const shipped = new Set()
const visit = (name) => {
  const o = outputs[name]
  if (!o || shipped.has(name) || NOT_SHIPPED.includes(o.entryPoint)) return
  shipped.add(name)
  for (const i of o.imports) if (!i.external) visit(i.path.replace(/^dist\/agent\//, ''))
}
visit('agent.mjs')
const left = Object.keys(outputs).filter((n) => n.endsWith('.mjs') && !shipped.has(n))
writeFileSync('dist/agent/host-files.json', JSON.stringify({files: [...shipped].sort(), notShipped: left.sort()}, null, 2) + '\n')

// The fleet CLI runs here, beside node_modules: bundle only fleet's own code.
rmSync('dist/fleet', {recursive: true, force: true})
await build({...esm, ...chunks, entryPoints: {fleet: 'src/cli/fleet-main.ts'}, outdir: 'dist/fleet', packages: 'external', target: 'node20', define})

// The dashboard's page (one HTML file, one ES module, one style sheet; no build step of their
// own): copied as they are, for the server to find at dist/dashboard/ (src/dashboard/page-files.ts).
rmSync('dist/dashboard', {recursive: true, force: true})
cpSync('src/dashboard/page', 'dist/dashboard', {recursive: true})

// The test bed (testbed/: local hosts made of Unix accounts, sudoers files and sshds) is
// no part of the product: `fleet demo` loads this build at run time, from a checkout, so
// the fleet bundle above carries none of it.
rmSync('dist/testbed', {recursive: true, force: true})
await build({...esm, entryPoints: {testbed: 'testbed/index.ts'}, outdir: 'dist/testbed', packages: 'external', target: 'node20'})
