//! Strict local stand-ins for what gamefleet talks to but cannot reach from a
//! test machine: Azure Resource Manager (container groups), the App Service
//! managed-identity token endpoint, Event Grid delivery through the Functions
//! host, and a managed Azurite (Table Storage) for tests.

pub mod azurite;
