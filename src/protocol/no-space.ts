/**
 * A host whose disk (or the user's quota) filled up under the agent: the one sentence the
 * agent ends the step and the run with (their `error`), naming the file it could not write,
 * and how a reader recognises it again. A run ended this way exits with EXIT.noSpace and is
 * resumed, not replaced, by the next start with the same playbook, vars and selection.
 */
const NO_SPACE = 'no space left on the host: '

export function noSpaceMessage(path: string): string {
  return `${NO_SPACE}${path}`
}

/** The file a run-end's error names when the host's disk stopped the run; undefined for any other error. */
export function noSpacePath(error: string | undefined): string | undefined {
  return error?.startsWith(NO_SPACE) ? error.slice(NO_SPACE.length) : undefined
}
