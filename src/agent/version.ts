/** Replaced at bundle time with package.json's version. */
declare const __FLEET_VERSION__: string | undefined
export const AGENT_VERSION: string = typeof __FLEET_VERSION__ === 'string' ? __FLEET_VERSION__ : '0.0.0-dev'
