// Cold-start reference for the benchmark: what the original project's Node.js
// runtime has to do before it can answer — load its dependencies
// (functions/shared/package.json of dgkanatsios/AzureContainerInstancesManagement)
// and listen. Usage: node server.js <port>. Answers GET / with 200.
'use strict';
require('ms-rest-azure');
require('azure-arm-containerinstance');
require('azure-storage');
require('requestretry');
const http = require('http');

const port = Number(process.argv[2] || 0);
http
  .createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('node reference ready');
  })
  .listen(port, '127.0.0.1', function () {
    console.log(`node reference listening addr=127.0.0.1:${this.address().port}`);
  });
