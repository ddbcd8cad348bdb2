namespace EventLoop.Client;
