//! Rendering: data for standard output, reports for standard error.

mod lines;
mod objects;
mod report;

pub use lines::{ReportStyle, ShowFilter, plural, report_lines};
pub use objects::{
    DirectoryWrite, Manifest, RenderError, kustomization, output_file_name, plan_directory,
    plan_output_dir, to_json_list, to_yaml_stream, write_output_dir,
};
pub use report::{report_columns, report_json, report_table, report_width};
