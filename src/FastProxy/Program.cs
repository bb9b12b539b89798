using FastProxy.Cli;

return await CommandLine.RunAsync(args);
