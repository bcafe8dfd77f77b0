/** Nest injection tokens for things that are not classes. */
export const REDIS = Symbol('REDIS');
export const PRISMA = Symbol('PRISMA');
