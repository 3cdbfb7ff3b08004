/** Whole seconds since the epoch: the unit of token claims and stored timestamps. */
export function epochSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}
