/**
 * What the agent sends the python launcher on its stdin: a u32 LE length,
 * then NUL-separated fields (no JSON: importing json would double the
 * launcher's start-up). Argv and env cannot hold NUL; stdin text comes last,
 * raw, so it may.
 *   S, id, argc, envc, has-stdin (1|0), argv..., K=V..., stdin bytes
 *   K, signal number        every live command's group gets the signal
 */
export function spawnRequest(id: number, argv: string[], env: NodeJS.ProcessEnv, stdin: string | undefined): Buffer {
  const pairs = Object.entries(env)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
  const fields = ['S', id, argv.length, pairs.length, stdin === undefined ? 0 : 1, ...argv, ...pairs].join('\0')
  return withLength(Buffer.concat([Buffer.from(`${fields}\0`), Buffer.from(stdin ?? '')]))
}

export function killRequest(signal: number): Buffer {
  return withLength(Buffer.from(`K\0${signal}`))
}

/** Node's spawn refuses NUL bytes in argv and env; the launcher's format relies on that too. */
export function hasNul(argv: string[], env: NodeJS.ProcessEnv): boolean {
  return argv.some((a) => a.includes('\0')) || Object.entries(env).some(([k, v]) => k.includes('\0') || (v ?? '').includes('\0'))
}

function withLength(body: Buffer): Buffer {
  const head = Buffer.alloc(4)
  head.writeUInt32LE(body.length)
  return Buffer.concat([head, body])
}
