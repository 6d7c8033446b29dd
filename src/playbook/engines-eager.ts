/**
 * The playbook's libraries, loaded with the module: what the instructor side and the
 * tests use. The agent's build replaces this module with an empty one (scripts/build.mjs),
 * so on a host each is loaded only when a playbook needs it (engines.ts).
 */
import * as liquidjs from 'liquidjs'
import * as yaml from 'yaml'
import * as schemas from './schema.js'

export const eager: {liquidjs?: typeof liquidjs; yaml?: typeof yaml; schemas?: typeof schemas} = {liquidjs, yaml, schemas}
