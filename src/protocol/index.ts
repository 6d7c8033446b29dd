/**
 * The agent's written contract, like ansible-runner's artifacts folder: with the shared
 * helpers (errors, shell quoting), the only code the agent and the instructor's side both
 * import. What the agent writes (records.ts, fold.ts), how it is called (agent-cli.ts) and
 * exits (exit-codes.ts, no-space.ts), what it answers (start-answer.ts, plan-answer.ts,
 * answers.ts), where fleet keeps things on a host (remote-layout.ts). A change here is a
 * change on every host.
 */
export * from './records.js'
export * from './parse.js'
export * from './fold.js'
export * from './start-answer.js'
export * from './plan-answer.js'
export * from './answers.js'
export * from './agent-cli.js'
export * from './exit-codes.js'
export * from './remote-layout.js'
export * from './no-space.js'
