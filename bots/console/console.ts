/**
 * The local console: a prompt that takes the same commands as the chat bots, as the local console
 * user, through the same command layer.
 */
import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { CommandService, Logger, Principal } from '../../src/index.js';
import { renderProgress, renderReply } from './render.js';

export interface ConsoleOptions {
  readonly commands: CommandService;
  readonly input: Readable;
  readonly output: Writable;
  readonly log: Logger;
  /** The console user's id on the `console` platform. */
  readonly userId?: string;
  readonly prompt?: boolean;
}

export class ConsoleTransport {
  private rl: Interface | null = null;
  private readonly principal: Principal;
  private pendingConfirm: string | null = null;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: ConsoleOptions) {
    this.principal = { platform: 'console', userId: options.userId ?? 'local', chatId: 'console' };
  }

  start(): void {
    const { input, output } = this.options;
    this.rl = createInterface({ input, output, terminal: false });
    this.write('tradecast console. Type /help for commands, /quit to leave.');
    this.showPrompt();
    this.rl.on('line', (line) => {
      // One line at a time, in order: a fan-out finishes before the next command runs.
      this.queue = this.queue.then(() => this.handle(line.trim()));
    });
    this.rl.on('close', () => {
      this.closed = true;
    });
  }

  /** Stop taking commands; resolves after the command in progress has finished. */
  async stop(): Promise<void> {
    this.rl?.close();
    this.closed = true;
    await this.queue;
  }

  private async handle(line: string): Promise<void> {
    if (line === '') return this.showPrompt();
    if (this.pendingConfirm) {
      const token = this.pendingConfirm;
      this.pendingConfirm = null;
      if (/^y(es)?$/i.test(line)) {
        await this.execute(() => this.options.commands.confirm(this.principal, token, this.hooks()));
      } else {
        this.options.commands.cancelConfirmation(this.principal, token);
        this.write('Cancelled; nothing was sent.');
      }
      return this.showPrompt();
    }
    if (line === '/quit' || line === '/exit') {
      this.write('Bye. Stopping the service…');
      process.kill(process.pid, 'SIGINT');
      return;
    }
    await this.execute(() => this.options.commands.runText(this.principal, line, this.hooks()));
    this.showPrompt();
  }

  private async execute(run: () => ReturnType<CommandService['runText']>): Promise<void> {
    try {
      const reply = await run();
      this.write(renderReply(reply));
      if (reply.kind === 'confirm') this.pendingConfirm = reply.token;
    } catch (error) {
      this.options.log.error({ err: error }, 'console command failed');
      this.write('✗ Something went wrong on our side; the details are in the log.');
    }
  }

  private hooks() {
    return {
      hooks: { onProgress: (p: Parameters<typeof renderProgress>[0]) => this.write(renderProgress(p)) },
    };
  }

  private showPrompt(): void {
    if (this.options.prompt !== false && !this.closed && !this.pendingConfirm)
      this.options.output.write('> ');
  }

  private write(text: string): void {
    if (!this.closed || text) this.options.output.write(`${text}\n`);
  }
}
