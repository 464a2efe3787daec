import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import {
  AppConfig,
  ConfigError,
  configureHttp,
  loadConfig,
  ShutdownState,
  trackHttpConnections,
  useBaselineWasmCompiler,
} from '@cariosan/core';
import { GatewayWsAdapter } from '@cariosan/gateway';
import { AppModule } from './app.module';
import { setupApiDocs } from './openapi';

async function bootstrap(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  // Embedded: may restart this process with a V8 flag (same pid) before anything is loaded.
  if (!config.databaseUrl) useBaselineWasmCompiler();

  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bodyParser: false,
    bufferLogs: true,
  });
  const logger = app.get(Logger);
  app.useLogger(logger);
  configureHttp(app);
  // The gateway (@WebSocketGateway at /gateway) speaks the contract's op/d frames; see docs/gateway.md.
  app.useWebSocketAdapter(GatewayWsAdapter.forApp(app));

  setupApiDocs(app);

  const http = app.getHttpServer();
  // Idle keep-alive connections stay open longer than the idle timeouts of the proxies in front
  // (nginx upstream 4 s in docker/nginx.conf, cloud load balancers 60 s): a replica must never
  // close a connection a proxy or client is about to reuse ("other side closed", 502).
  http.keepAliveTimeout = 65_000;
  http.headersTimeout = 66_000;
  const connections = trackHttpConnections(http);
  await app.listen(config.port, config.host);
  logger.log(`listening on ${config.host}:${config.port}`, 'Bootstrap');

  const shutdown = app.get(ShutdownState);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: draining`, 'Bootstrap');
    // Whatever happens below, the process is gone within the timeout.
    setTimeout(() => process.exit(1), config.shutdownTimeoutMs).unref();
    void (async () => {
      await shutdown.beginDrain();
      // Let requests already sent arrive and finish, drop idle keep-alive sockets, stop accepting.
      await connections.drain(Math.min(2000, config.shutdownTimeoutMs / 2));
      await app.close();
      process.exit(0);
    })().catch((err: unknown) => {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

process.on('unhandledRejection', (err) => {
  // A floating promise is a bug, but it must not take the server down.
  process.stderr.write(`${JSON.stringify({ level: 50, msg: 'unhandled rejection', err: String(err) })}\n`);
});

bootstrap().catch((err: unknown) => {
  process.stderr.write(`startup failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
