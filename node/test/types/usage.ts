// Compiled by `tsc` in `npm run lint`: the shipped types describe a real adapter.

import { Cancelled, HostToolError, serve, tool, type CallContext } from '../../src/index.js';

class Greeter {
  static tools = { greet: { description: 'Say hello.', parameters: { name: 'string' } } };

  greet({ name }: { name: string }, ctx: CallContext): string {
    ctx.session.greeted = true;
    return `hello ${name} from ${ctx.workerId ?? 'nowhere'}`;
  }

  async *count({ n }: { n: number }, ctx: CallContext): AsyncGenerator<number> {
    for (let index = 0; index < n; index += 1) {
      await ctx.sleep(1);
      yield index;
    }
  }

  async lookup(_args: Record<string, unknown>, ctx: CallContext): Promise<unknown> {
    try {
      return await ctx.callHostTool<{ name: string }>('lookup_user', { user_id: 1 });
    } catch (error) {
      if (error instanceof HostToolError) return error.errorType;
      if (error instanceof Cancelled) return null;
      throw error;
    }
  }
}

export const described = tool({ description: 'Twice.', parameters: { x: 'number' } }, ({ x }) => x * 2);
export const started: Promise<unknown> = serve(Greeter, { name: 'Greeter' });
