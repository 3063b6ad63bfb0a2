/**
 * Built-in PostgreSQL functions (pg_catalog) that read nothing but their arguments and change nothing:
 * aggregates, string, numeric, date/time and JSON helpers; and catalog introspection functions, which read
 * the system catalogs (names, definitions, comments, sizes) but never a table's rows. A call to any other function — user-defined,
 * schema-qualified outside pg_catalog, or a built-in with side effects such as set_config, pg_read_file,
 * lo_import, dblink, nextval or pg_terminate_backend — makes the statement exercise the `function` class,
 * because a function body can read or write anything (a `CREATE FUNCTION` followed by a plain `SELECT f()`
 * must not pass as a read).
 */
export const SAFE_FUNCTIONS: ReadonlySet<string> = new Set([
  // aggregates
  'count', 'sum', 'avg', 'min', 'max', 'bool_and', 'bool_or', 'every', 'string_agg', 'array_agg', 'json_agg',
  'jsonb_agg', 'json_object_agg', 'jsonb_object_agg', 'stddev', 'stddev_pop', 'stddev_samp', 'variance',
  'var_pop', 'var_samp', 'percentile_cont', 'percentile_disc', 'mode', 'bit_and', 'bit_or',
  // window functions
  'row_number', 'rank', 'dense_rank', 'percent_rank', 'cume_dist', 'ntile', 'lag', 'lead', 'first_value',
  'last_value', 'nth_value',
  // strings
  'lower', 'upper', 'length', 'char_length', 'character_length', 'octet_length', 'substr', 'substring',
  'trim', 'btrim', 'ltrim', 'rtrim', 'replace', 'concat', 'concat_ws', 'left', 'right', 'lpad', 'rpad',
  'position', 'strpos', 'split_part', 'initcap', 'reverse', 'repeat', 'format', 'md5', 'starts_with',
  'regexp_replace', 'regexp_match', 'regexp_matches', 'regexp_split_to_array', 'to_char', 'quote_ident',
  'quote_literal', 'encode', 'decode', 'ascii', 'chr', 'translate',
  // numbers
  'abs', 'ceil', 'ceiling', 'floor', 'round', 'trunc', 'mod', 'power', 'sqrt', 'greatest', 'least',
  'random', 'to_number', 'sign', 'div', 'exp', 'ln', 'log',
  // date and time
  'now', 'current_timestamp', 'clock_timestamp', 'statement_timestamp', 'transaction_timestamp',
  'date_trunc', 'date_part', 'extract', 'age', 'to_date', 'to_timestamp', 'make_date', 'make_interval',
  'make_timestamp', 'make_timestamptz', 'justify_days', 'justify_hours', 'justify_interval', 'timezone',
  'date_bin', 'overlaps',
  // json, arrays, misc
  'json_build_object', 'jsonb_build_object', 'json_build_array', 'jsonb_build_array', 'to_json', 'to_jsonb',
  'jsonb_pretty', 'json_typeof', 'jsonb_typeof', 'jsonb_array_length', 'json_array_length',
  'jsonb_extract_path', 'jsonb_extract_path_text', 'json_extract_path', 'json_extract_path_text',
  'jsonb_set', 'jsonb_strip_nulls', 'jsonb_each', 'jsonb_each_text', 'json_each', 'json_each_text',
  'jsonb_array_elements', 'json_array_elements', 'jsonb_object_keys', 'json_object_keys',
  'array_length', 'array_to_string', 'string_to_array', 'unnest', 'cardinality', 'array_position',
  'array_append', 'array_prepend', 'array_cat', 'array_remove', 'generate_series', 'generate_subscripts',
  'coalesce', 'nullif', 'gen_random_uuid', 'version', 'current_database', 'current_schema',
  'pg_typeof', 'num_nonnulls', 'num_nulls', 'row_to_json', 'date', 'int4', 'int8', 'numeric', 'text',
  'array_upper', 'array_lower', 'array_ndims', 'array_dims',
  // catalog introspection, as psql's \d, \dt, \df, \dn, \du, \l, \dx, \dconfig and GUI schema browsers use it:
  // names, definitions, comments, sizes and visibility of objects, never the rows of a table
  'format_type', 'obj_description', 'col_description', 'shobj_description', 'pg_get_expr', 'pg_get_viewdef',
  'pg_get_indexdef', 'pg_get_constraintdef', 'pg_get_ruledef', 'pg_get_triggerdef', 'pg_get_partkeydef',
  'pg_get_statisticsobjdef_columns', 'pg_get_function_arguments', 'pg_get_function_result',
  'pg_get_function_identity_arguments', 'pg_get_userbyid', 'pg_get_serial_sequence', 'pg_encoding_to_char',
  'pg_tablespace_location', 'pg_relation_is_publishable', 'pg_table_is_visible', 'pg_type_is_visible',
  'pg_function_is_visible', 'pg_operator_is_visible', 'pg_opclass_is_visible', 'pg_opfamily_is_visible',
  'pg_collation_is_visible', 'pg_conversion_is_visible', 'pg_statistics_obj_is_visible', 'pg_ts_config_is_visible',
  'pg_ts_dict_is_visible', 'pg_ts_parser_is_visible', 'pg_ts_template_is_visible', 'pg_size_pretty',
  'pg_table_size', 'pg_relation_size', 'pg_total_relation_size', 'pg_indexes_size', 'pg_database_size',
  'current_setting', 'has_table_privilege', 'has_column_privilege', 'has_schema_privilege', 'has_database_privilege',
  'has_function_privilege', 'pg_has_role', 'pg_partition_ancestors', 'pg_partition_root', 'pg_partition_tree',
  'pg_get_statisticsobjdef',
  // pgjdbc's DatabaseMetaData (getPrimaryKeys, getIndexInfo, ResultSetMetaData): expands index key arrays
  'information_schema._pg_expandarray',
]);
