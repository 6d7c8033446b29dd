// The agent's own integration tests again, with every step started by Node's spawn
// (the fallback when python3 cannot run the launcher). The bundled agent inherits
// this environment; agent-sudo.test.ts gives its agents an environment of their own,
// so its sudo path is covered under both launchers by test/unit/launcher-exec.test.ts.
process.env.FLEET_AGENT_LAUNCHER = 'node'
await import('./agent-run.test.js')
await import('./agent-detached.test.js')
await import('./agent-start-follow.test.js')
