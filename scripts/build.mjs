// Builds dist/: the agent as one self-contained folder (agent.mjs and its chunks; it
// runs with plain node 18+ with no node_modules), the part of it hosts get (dist/agent-host),
// the fleet CLI for this machine,
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

// What the agent's builds share: code for Node 18+ on a host, minified, with a require() for
// its bundled CommonJS dependencies; the agent's entry, built whole (dist/agent) and as hosts get it.
const forHosts = {...esm, target: 'node18', minify: true, legalComments: 'none', banner}
// oclif only loads typescript in development mode, which the agent never uses.
const agentEntry = {...forHosts, entryPoints: {agent: 'src/cli/agent-main.ts'}, external: ['typescript'], define}

rmSync('dist/agent', {recursive: true, force: true})
mkdirSync('dist/agent', {recursive: true})
await build({...agentEntry, ...chunks, outdir: 'dist/agent', plugins: [zodEnglishOnly, lazyEngines]})
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

// What fleet ships to a host (dist/agent-host, read by src/orchestrator/bundle.ts): the same
// agent as two modules, agent-main.mjs (behind its entry, below) and LiquidJS beside it
// (liquid.mjs, loaded when a template needs more than plain substitution), without oclif
// (help, bad flags, `redact`), the YAML reader and the playbook schemas. A host runs the playbook fleet's dry run compiled, with
// JSON vars, through the fast path: those are three quarters of the agent's bytes and never
// load there; their imports point at files no host has, and the agent answers their absence
// in one sentence (src/errors/shipped-agent.ts). One module, not dist/agent's chunks: every
// run on a host starts by loading it, and one file is less work for Node's loader (and one
// file to unpack, not twenty-six).
// The folder is matched by isShippedWithout (src/errors/shipped-agent.ts).
const NOT_SHIPPED_DIR = 'not-shipped'
const NOT_SHIPPED = {'./agent-oclif.js': 'agent-oclif', yaml: 'yaml', './schema.js': 'schema'}
const hostSplit = {
  name: 'host-split',
  setup(b) {
    b.onResolve({filter: /^(\.\/agent-oclif\.js|yaml|\.\/schema\.js|liquidjs)$/}, (args) => {
      if (args.kind !== 'dynamic-import') return undefined
      if (args.path === 'liquidjs') return {path: './liquid.mjs', external: true}
      return {path: `./${NOT_SHIPPED_DIR}/${NOT_SHIPPED[args.path]}.mjs`, external: true}
    })
  },
}
// Its entry, agent.mjs, turns on Node's compile cache and then imports the agent's module,
// agent-main.mjs (src/cli/agent-host-entry.ts): the cache covers only modules loaded after it is on.
const hostEntry = {
  name: 'host-entry',
  setup(b) {
    b.onResolve({filter: /^\.\/agent-main\.js$/}, (args) => (args.kind === 'dynamic-import' ? {path: './agent-main.mjs', external: true} : undefined))
  },
}
rmSync('dist/agent-host', {recursive: true, force: true})
const hostBuild = await build({...agentEntry, entryPoints: {agent: 'src/cli/agent-host-entry.ts', 'agent-main': 'src/cli/agent-main.ts'}, outdir: 'dist/agent-host', plugins: [hostEntry, hostSplit, zodEnglishOnly, lazyEngines], metafile: true})
// A static import of one of them would carry it into the host's agent unseen: refuse the build.
const carried = Object.keys(hostBuild.metafile.inputs).filter((f) => /^(node_modules\/(yaml|@oclif|liquidjs)\/|src\/playbook\/schema\.ts$|src\/cli\/agent-oclif\.ts$)/.test(f))
if (carried.length) throw new Error(`build: the host's agent would carry ${carried.slice(0, 3).join(', ')}: import it only with import() where it is needed`)
// LiquidJS's own ES module build (its "module"), so that `export *` names its exports.
await build({...forHosts, stdin: {contents: "export * from 'liquidjs'", resolveDir: '.', sourcefile: 'liquid.mjs'}, mainFields: ['module', 'main'], outfile: 'dist/agent-host/liquid.mjs'})

// The fleet CLI runs here, beside node_modules: bundle fleet's own code, and the packages that
// `fleet status` loads on every start, which cost more to load from node_modules than
// bundled: zod, ~100 modules with ~50 languages' messages (~55 ms of CPU, against ~half that
// bundled with English alone); better-sqlite3's JavaScript (a dozen CommonJS files, each
// resolved and wrapped for ESM: ~8 ms; its native addon stays in the package, loaded by
// src/store/sqlite.ts); string-width and its three (~4 ms).
const BUNDLED = /^(zod|better-sqlite3|string-width|strip-ansi|ansi-regex|is-fullwidth-code-point|emoji-regex)(\/|$)/
const externalButBundled = {
  name: 'external-but-bundled',
  setup(b) {
    b.onResolve({filter: /^[^./]/}, (args) => (BUNDLED.test(args.path) ? undefined : {path: args.path, external: true}))
  },
}
rmSync('dist/fleet', {recursive: true, force: true})
await build({...esm, ...chunks, entryPoints: {fleet: 'src/cli/fleet-main.ts'}, outdir: 'dist/fleet', plugins: [externalButBundled, zodEnglishOnly], target: 'node20', define, banner})

// The dashboard's page (one HTML file, one ES module, one style sheet; no build step of their
// own): copied as they are, for the server to find at dist/dashboard/ (src/dashboard/page-files.ts).
rmSync('dist/dashboard', {recursive: true, force: true})
cpSync('src/dashboard/page', 'dist/dashboard', {recursive: true})

// The test bed (testbed/: local hosts made of Unix accounts, sudoers files and sshds) is
// no part of the product: `fleet demo` loads this build at run time, from a checkout, so
// the fleet bundle above carries none of it.
rmSync('dist/testbed', {recursive: true, force: true})
await build({...esm, entryPoints: {testbed: 'testbed/index.ts'}, outdir: 'dist/testbed', packages: 'external', target: 'node20'})
